// The arithmetic of one pixel: the part of the image it depends on, what its layer reads, its
// map enlarged, and the multiply-sum (or the maximum) worked out with the model's own weights,
// as visualize.py convolution --explain does on a fixed filter. Also the sliding window, which
// steps a filter across its input and fills its map in.
//
// On a wide screen the panel is the right column (style.css); on a narrower one a sheet over
// the half of the screen the clicked map is not in. Either way nothing on the page moves when
// it opens or closes: what was just clicked stays under the pointer.
"use strict";

const SHEET_GAP = 8;  // px between a sheet and the map it was opened from

// Inspect one pixel of map `channel` of layer k; `from` is what was clicked (or focused).
function select(k, channel, cell, from) {
  stopSlide();
  state.selected = {layer: k, channel, row: cell.row, col: cell.col};
  openInspector(from);
  showSelection();
  showFlow();
  writeAddress();
}

let openedFrom = null;  // where Escape returns the focus

function openInspector(from) {
  const inspector = $("inspector");
  const opening = inspector.hidden;
  inspector.hidden = false;
  document.body.classList.add("inspecting");
  $("page").classList.add("room");
  if (from) openedFrom = from;
  if (!wide() && (opening || (from && overlaps(from, inspector)))) placeSheet(from);
}

function overlaps(a, b) {
  const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
  return p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom;
}

// The sheet goes below the clicked element if the room there holds it whole, or is the larger;
// above it otherwise; never over it. Without an element (a link), at the bottom.
function placeSheet(from) {
  const inspector = $("inspector");
  const most = (innerHeight * Number(css("--sheet-max"))) / 100;
  const box = from ? from.getBoundingClientRect() : {top: 0, bottom: 0};
  const below = innerHeight - box.bottom - SHEET_GAP, above = box.top - SHEET_GAP;
  const place = below >= most || below >= above ? "bottom" : "top";
  inspector.dataset.place = place;
  const height = Math.max(innerHeight * SHEET_LEAST, Math.min(most, place === "bottom" ? below : above));
  inspector.style.setProperty("--sheet-height", `${Math.round(height)}px`);
}

function closeInspector(refocus = true) {
  stopSlide();
  state.selected = null;
  $("inspector").hidden = true;
  document.body.classList.remove("inspecting");
  $("drawing-mark").hidden = true;
  for (const button of document.querySelectorAll('.map[aria-pressed="true"]')) button.setAttribute("aria-pressed", "false");
  for (const card of document.querySelectorAll(".layer-card.current")) card.classList.remove("current");
  showFlow();
  writeAddress();
  if (refocus && openedFrom && openedFrom.isConnected) openedFrom.focus({preventScroll: true});
}

function setUpInspector() {
  const zoom = $("zoom");
  zoom.addEventListener("click", event => {
    if (!state.selected) return;
    const t = state.outputs[state.selected.layer];
    select(state.selected.layer, state.selected.channel, cellOf(event, zoom, t.height, t.width));
  });
  zoom.addEventListener("keydown", event => {
    if (!state.selected) return;
    const steps = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
    const {layer, channel, row, col} = state.selected;
    const t = state.outputs[layer];
    if (event.key in steps) {
      event.preventDefault();
      const [down, across] = steps[event.key];
      select(layer, channel, {row: Math.min(t.height - 1, Math.max(0, row + down)),
                              col: Math.min(t.width - 1, Math.max(0, col + across))});
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("explanation").scrollIntoView({block: "nearest"});
    }
  });
  $("close").addEventListener("click", () => closeInspector());
  $("play").addEventListener("click", () => (state.slide && state.slide.timer ? pauseSlide() : playSlide()));
}

// --- What the panel shows ---------------------------------------------------------------

function showSelection() {
  const {layer: k, channel, row, col} = state.selected;
  const layer = CNN.layers[k], t = state.outputs[k];
  const what = layer.type === "Conv2D" ? "filter" : "map";
  markSelectedMap(k, channel);
  $("inspector-title").textContent =
    `${layer.name}, ${what} ${channel}, pixel (row ${row}, column ${col}) = ${fixed(at(t, row, col, channel))}`;
  $("slide").hidden = layer.type !== "Conv2D";
  showField(k, row, col);
  showZoom(k, channel, row, col);
  const explanation = $("explanation");
  explanation.textContent = "";
  const input = layerInput(k);
  let result;
  if (layer.type === "Conv2D") {
    const e = explainConv(input, layer, channel, row, col);
    // While the window slides, the input map shown stays the one it started on.
    if (state.slide && state.slide.inputChannel === undefined) state.slide.inputChannel = e.parts[0].channel;
    showSource(k, input, state.slide ? state.slide.inputChannel : e.parts[0].channel, e.top, e.left, e.rows, e.cols);
    result = showConv(explanation, k, e);
  } else {
    const e = explainPool(input, layer, channel, row, col);
    showSource(k, input, channel, row * layer.size, col * layer.size, layer.size, layer.size);
    result = showPool(explanation, k, e, channel);
  }
  showCheck(explanation, at(t, row, col, channel), result);
  if (state.slide) showSlideStatus(t, row, col);
}

function markSelectedMap(k, channel) {
  for (const button of document.querySelectorAll('.map[aria-pressed="true"]')) button.setAttribute("aria-pressed", "false");
  for (const card of document.querySelectorAll(".layer-card")) card.classList.toggle("current", Number(card.dataset.layer) === k);
  const button = mapButton(k, channel);
  button.setAttribute("aria-pressed", "true");
  rove(button.parentNode.children, button);
}

// What layer k received: the previous layer's output, or the image itself for the first layer.
function layerInput(k) {
  if (k > 0) return state.outputs[k - 1];
  const image = tensor(SIZE, SIZE, 1);
  image.data.set(state.pixels);
  return image;
}

// Whether layer k reads the image itself (rescaled, in train.py's models) rather than maps.
function readsImage(k) {
  return k === 0 || CNN.layers[k - 1].type === "Rescaling";
}

// The input image with the square this pixel depends on (its receptive field), in the panel
// and on the drawing canvas.
function showField(k, row, col) {
  const field = receptiveField(CNN, k, row, col);
  paintImage($("field"), state.pixels);
  mark($("field-mark"), SIZE, SIZE, field.row, field.col, field.rows, field.cols);
  mark($("drawing-mark"), SIZE, SIZE, field.row, field.col, field.rows, field.cols);
  const top = Math.max(0, field.row), left = Math.max(0, field.col);
  const bottom = Math.min(SIZE, field.row + field.rows) - 1, right = Math.min(SIZE, field.col + field.cols) - 1;
  const where = `rows ${top}-${bottom}, columns ${left}-${right}`;
  $("field-caption").textContent = readsImage(k) && CNN.layers[k].type === "Conv2D"
    ? `its input, the image: the window at ${where}`
    : `the image: this pixel depends on ${where} only (its receptive field)`;
}

// Beside it, what a deeper layer reads: the input map that counts most, with the window boxed.
// A layer that reads the image has it in the first figure already.
function showSource(k, input, channel, row, col, rows, cols) {
  $("source-pair").hidden = readsImage(k);
  if (readsImage(k)) return;
  paint($("source-map"), input.height, input.width, (r, c) => at(input, r, c, channel) / (mapTop(input, channel) || 1),
        COLOURS.response);
  mark($("source-mark"), input.height, input.width, row, col, rows, cols);
  const many = input.channels > 1 && CNN.layers[k].type === "Conv2D";
  $("source-caption").textContent = `what it reads: ${CNN.layers[k - 1].name} map ${channel}` +
    (!many ? "" : state.slide ? `, one of the ${input.channels} the window covers`
                              : ` (of ${input.channels}, the one that adds most here)`);
}

// The map enlarged, on its own scale; while the window slides, only the pixels it has reached.
function showZoom(k, channel, row, col) {
  const layer = CNN.layers[k], t = state.outputs[k];
  const top = mapTop(t, channel);
  const reached = state.slide ? row * t.width + col : Infinity;
  paint($("zoom"), t.height, t.width,
        (r, c) => (r * t.width + c <= reached ? at(t, r, c, channel) / (top || 1) : null), COLOURS.response);
  mark($("zoom-mark"), t.height, t.width, row, col);
  $("zoom").parentNode.classList.toggle("silent", top === 0);
  $("zoom-scale").textContent = `this map's own scale: 0 to ${fixed(top)}`;
  $("zoom-caption").textContent = `${layer.name} ${layer.type === "Conv2D" ? "filter" : "map"} ${channel}, ` +
    `${t.height}x${t.width}`;
  const silent = top !== 0 ? "" : layer.type === "Conv2D"
    ? ` This map is 0 everywhere for this input: at every position the filter's sum plus its bias is 0 or less, ` +
      "and the ReLU makes that 0. Black here is a filter that found nothing it responds to, not a fault."
    : ` This map is 0 everywhere for this input, because ${CNN.layers[k - 1].name} map ${channel}, which it pools, is.`;
  $("zoom-note").textContent = `Arrow keys or a click move the pixel.${silent}`;
}

function showCheck(explanation, value, result) {
  // The map's own value, for a reader (and the self-test) to compare with the arithmetic.
  const check = element("p", "check");
  check.append(`The map holds ${fixed(value)} at this pixel; the arithmetic gives `);
  const output = element("output", null, fixed(result));
  output.id = "explained-value";
  output.dataset.value = result;
  check.append(output, ".");
  explanation.appendChild(check);
}

// --- The arithmetic, worked out ---------------------------------------------------------

// A small table of numbers, coloured: colour(x) -> [r, g, b, light background?]. Cells of a
// SAME-padded window outside the input are marked as padding.
function numberGrid(values, rows, cols, className, colour, outside) {
  const table = element("table", `grid ${className}`);
  for (let i = 0; i < rows; i++) {
    const tr = element("tr");
    for (let j = 0; j < cols; j++) {
      const td = element("td", null, fixed(values[i * cols + j]));
      if (outside && outside(i, j)) {
        td.className = "pad";
        td.title = "padding: outside the input, read as 0";
      } else if (colour) {
        const [r, g, b, light] = colour(values[i * cols + j]);
        td.style.background = `rgb(${r},${g},${b})`;
        td.style.color = light ? INK.light : INK.dark;  // 4.5:1 or better either way
      }
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  return table;
}

// The relative luminance of WCAG 2: a light background gets dark text, a dark one light text.
function light(r, g, b) {
  const linear = v => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) > 0.179;
}

// Weights and products: red for positive, blue for negative, as in the filters figure.
function diverging(limit) {
  return x => {
    const [r, g, b] = colourOf(COLOURS.kernel, 0.5 + 0.5 * (x / (limit || 1)));
    return [r, g, b, light(r, g, b)];
  };
}

// Pixels of the input as the layer sees them: grey for the image, the map colours for maps.
function sequential(limit, colours) {
  return x => {
    const [r, g, b] = colourOf(colours, x / (limit || 1));
    return [r, g, b, light(r, g, b)];
  };
}

function titled(title, content) {
  const box = element("figure", "titled");
  box.append(content, element("figcaption", null, title));
  return box;
}

// A Conv2D pixel: what the window covers, then for the channels that add most their window,
// weights, products and total, then the sums, the bias and the activation.
function showConv(explanation, k, e) {
  const layer = CNN.layers[k], input = layerInput(k);
  const source = k === 0 ? {name: "the image", type: "Input"} : CNN.layers[k - 1];
  const outside = (i, j) => e.top + i < 0 || e.left + j < 0 || e.top + i >= input.height || e.left + j >= input.width;
  explanation.appendChild(convIntro(layer, source, e, outside));
  if (layer.folded && layer.folded.length) {
    explanation.appendChild(element("p", "note", `These weights and this bias have ${layer.folded.join(" and ")} ` +
      "folded in: batch norm's (x - mean) / sqrt(variance + epsilon) x gamma + beta is one multiplication per " +
      "filter and one addition, so it can be done on the weights and the bias once, instead of on every output."));
  }
  const onImage = readsImage(k);
  const inputColours = onImage ? GREYS : COLOURS.response;
  const inputTop = onImage ? 255 * (source.scale || 1) + (source.offset || 0) : brightest(input);
  const shown = e.parts.slice(0, CHANNELS_WORKED);
  for (const part of shown) {
    explanation.appendChild(convPart(part, e, input, source, outside, inputTop, inputColours));
  }
  explanation.appendChild(convSums(layer, e, shown));
  explanation.appendChild(element("p", "note rounding",
    `Every number here is rounded to ${DIGITS} decimals, and each total is the sum of the unrounded numbers: ` +
    "adding up the shown numbers can miss the shown total by a few units in the last decimal."));
  return e.value;
}

function convIntro(layer, source, e, outside) {
  const channels = e.parts.length;
  const windowText = `rows ${e.top} to ${e.top + e.rows - 1}, columns ${e.left} to ${e.left + e.cols - 1}`;
  const padded = layer.padding === "same" && e.parts[0].patch.some((v, n) => outside(Math.floor(n / e.cols), n % e.cols));
  const paddingText = padded ? " Part of the window hangs over the edge: SAME padding reads 0 there (striped)." : "";
  const intro = element("p");
  if (channels === 1) {
    const scaled = source.type === "Rescaling"
      ? ` The ${source.name} layer has already multiplied the pixels by ${Number(source.scale.toPrecision(3))}: ` +
        `0..255 became ${fixed(source.offset, 0)}..${fixed(255 * source.scale + source.offset, 0)}.` : "";
    const onImage = source.type === "Input" || source.type === "Rescaling";
    intro.textContent = `This pixel looks at the ${e.rows}x${e.cols} window at ${windowText} of ` +
      `${onImage ? "the input (boxed on the image)" : `${source.name}'s map`}.${scaled} ` +
      "Each pixel of the window is multiplied by the filter's weight at the same place; the products are summed." +
      paddingText;
  } else {
    intro.textContent = `This pixel looks at a ${e.rows}x${e.cols} window, ${windowText}, of every one of the ` +
      `${channels} maps of ${source.name}, each through its own ${e.rows}x${e.cols} weights: ` +
      `${channels} x ${e.rows * e.cols} = ${thousands(channels * e.rows * e.cols)} products.${paddingText} ` +
      `The ${Math.min(CHANNELS_WORKED, channels)} maps that contribute most (either sign):`;
  }
  return intro;
}

// One input channel worked out: its window (with the channel's map, for a layer that reads
// many), times the weights, equals the products, which add up to the channel's total.
function convPart(part, e, input, source, outside, inputTop, inputColours) {
  const block = element("div", "worked");
  const channels = e.parts.length;
  if (channels > 1) {
    const caption = element("div", "channel");
    const holder = element("div", "mini");
    const mini = element("canvas");
    paint(mini, input.height, input.width, (r, c) => at(input, r, c, part.channel) / (inputTop || 1), inputColours);
    const box = element("div", "mark");
    holder.append(mini, box);
    mark(box, input.height, input.width, e.top, e.left, e.rows, e.cols);
    caption.append(holder, element("span", null, `${source.name} map ${part.channel}`));
    block.appendChild(caption);
  }
  const limit = Math.max(...part.kernel.map(Math.abs));
  const productLimit = Math.max(...part.products.map(Math.abs));
  block.append(
    titled("window", numberGrid(part.patch, e.rows, e.cols, "window", sequential(inputTop, inputColours), outside)),
    element("span", "operator", "×"),
    titled("weights", numberGrid(part.kernel, e.rows, e.cols, "kernel", diverging(limit))),
    element("span", "operator", "="),
    titled("products", numberGrid(part.products, e.rows, e.cols, "products", diverging(productLimit))),
    element("span", "operator", "→"),
    titled(channels === 1 ? "sum" : "map's total", element("div", "total", fixed(part.total))),
  );
  return block;
}

function convSums(layer, e, shown) {
  const channels = e.parts.length;
  const lines = element("table", "sums");
  const line = (what, value, className) => {
    const tr = element("tr", className);
    tr.append(element("td", null, what), element("td", "number", value));
    lines.appendChild(tr);
  };
  if (channels > 1) {
    const rest = e.sum - shown.reduce((s, part) => s + part.total, 0);
    line(`the other ${channels - shown.length} maps together`, fixed(rest));
    line(`sum over all ${channels} maps`, fixed(e.sum), "subtotal");
  } else {
    line(`sum of the ${e.rows * e.cols} products`, fixed(e.sum), "subtotal");
  }
  line(`+ bias of filter ${state.selected.channel}`, fixed(e.bias));
  line("= before the activation", fixed(e.beforeActivation), "subtotal");
  if (layer.activation === "relu") {
    line(`ReLU: max(0, ${fixed(e.beforeActivation)})`, fixed(e.value), "result");
  } else {
    line("no activation", fixed(e.value), "result");
  }
  return lines;
}

function showPool(explanation, k, e, channel) {
  const layer = CNN.layers[k];
  const source = CNN.layers[k - 1];
  const first = e.square[0], last = e.square[e.square.length - 1];
  const intro = element("p");
  intro.textContent = `Max pooling keeps the largest of the ${layer.size}x${layer.size} square at rows ` +
    `${first.row}-${last.row}, columns ${first.col}-${last.col} of ${source.name}'s map ${channel}, ` +
    "and forgets the other three: the map halves in size, the strongest response survives.";
  explanation.appendChild(intro);
  const input = state.outputs[k - 1];
  const values = e.square.map(cell => cell.value);
  const grid = numberGrid(values, layer.size, layer.size, "window", sequential(mapTop(input, channel), COLOURS.response));
  grid.querySelectorAll("td")[e.square.indexOf(e.survivor)].classList.add("survivor");
  const block = element("div", "worked");
  block.append(titled(`${source.name} map ${channel}`, grid), element("span", "operator", "→"),
               titled("largest", element("div", "total", fixed(e.value))));
  explanation.appendChild(block);
  explanation.appendChild(element("p", "note", `The survivor: row ${e.survivor.row}, column ${e.survivor.col}.`));
  return e.value;
}

// --- The sliding window: the filter steps across its input row by row, filling the map --
// It starts on the first row whose windows read anything but 0: the rows above read only 0s,
// so each of their pixels is the bias through the activation, and they are filled at once.
// Any later window that reads only 0s passes at the fastest pace.

function playSlide() {
  if (!state.selected || CNN.layers[state.selected.layer].type !== "Conv2D") return;
  const {layer: k, channel} = state.selected;
  const t = state.outputs[k];
  if (!state.slide || state.slide.k !== k || state.slide.channel !== channel) {
    const start = firstRowRead(k) * t.width;
    state.slide = {k, channel, step: start, start, total: t.height * t.width, timer: null};
  }
  $("play").setAttribute("aria-pressed", "true");
  $("play").textContent = "❚❚ pause";
  slideStep();
}

function slideStep() {
  const slide = state.slide;
  if (!slide) return;
  const t = state.outputs[slide.k];
  const row = Math.floor(slide.step / t.width), col = slide.step % t.width;
  state.selected = {layer: slide.k, channel: slide.channel, row, col};
  showSelection();
  showFlow();
  writeAddress();
  slide.step++;
  if (slide.step >= slide.total) {
    stopSlide();
    showSelection();
    return;
  }
  const fastest = Math.min(...Array.from($("pace").options, option => Number(option.value)));
  slide.timer = setTimeout(slideStep, readsOnlyZeros(slide.k, row, col) ? fastest : Number($("pace").value));
}

function readsOnlyZeros(k, row, col) {
  return explainConv(layerInput(k), CNN.layers[k], 0, row, col).parts.every(part => part.patch.every(v => v === 0));
}

// The first row of layer k's map whose window reads anything but 0 somewhere (0 for a blank input).
function firstRowRead(k) {
  const t = state.outputs[k];
  for (let row = 0; row < t.height; row++) {
    for (let col = 0; col < t.width; col++) if (!readsOnlyZeros(k, row, col)) return row;
  }
  return 0;
}

function showSlideStatus(t, row, col) {
  const slide = state.slide, step = row * t.width + col;
  const status = $("slide-status");
  status.dataset.step = step;
  const skipped = slide.start ? ` Rows 0-${slide.start / t.width - 1} read only 0s: filled at once.` : "";
  status.textContent = `The window at row ${row}, column ${col}: step ${step + 1} of ${slide.total}, ` +
    `row by row, each step one multiply-sum.${skipped}`;
}

function pauseSlide() {
  clearTimeout(state.slide.timer);
  state.slide.timer = null;
  $("play").setAttribute("aria-pressed", "false");
  $("play").textContent = "▶ go on";
}

function stopSlide() {
  if (!state.slide) return;
  clearTimeout(state.slide.timer);
  state.slide = null;
  $("play").setAttribute("aria-pressed", "false");
  $("play").textContent = "▶ slide the window";
  $("slide-status").textContent = "";
}
