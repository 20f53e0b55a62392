// The network at a glance: the layers in order, from the image to the softmax, each as a
// thumbnail, joined by lines to the layer it reads.
//
// Each layer with maps shows one of them: the map inspected, and through the other layers
// the maps it reads and the maps that read it (a chain, followMaps); with nothing inspected,
// each layer's strongest map. A dense layer shows its units, the softmax its class
// probabilities. A line from a stack of maps fans out where the next layer reads all of them
// (a convolution, or a dense layer after Flatten), and is single where it reads one (max
// pooling keeps each map apart). Clicking a layer inspects it.
"use strict";

const FAN = [0.2, 0.5, 0.8];  // where a fan's lines leave a stack of maps, as fractions of its height

function buildFlow() {
  const flow = $("flow");
  const last = CNN.layers.length - 1;
  flow.appendChild(stage("input", null, "input", `${SIZE}×${SIZE}`));
  CNN.layers.forEach((layer, k) => {
    const shape = SHAPES[k];
    if (MAP_LAYERS.includes(k)) {
      flow.appendChild(stage("maps", k, layer.name, `${shape.height}×${shape.width}\u200b×${shape.channels}`));
    } else if (layer.type === "Dense") {
      flow.appendChild(k === last ? stage("output", k, "softmax", `${CLASSES.length} classes`)
                                  : stage("dense", k, layer.name, `${shape.channels} units`));
    }
  });
  const buttons = flow.querySelectorAll(".stage-button");
  buttons[0].tabIndex = 0;
  // One tab stop: the arrow keys move along the layers, Enter (or Space) inspects one.
  flow.addEventListener("keydown", event => {
    const all = Array.from(buttons);
    const here = all.indexOf(event.target);
    if (here < 0) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      inspectStage(event.target.closest(".stage"));
      return;
    }
    const next = moved(event.key, here, all.length, 1);
    if (next === null) return;
    event.preventDefault();
    rove(all, all[next]);
    all[next].focus();
  });
  new ResizeObserver(drawFlowLines).observe(flow);
}

// One layer: its thumbnail (a button, but for the input), its name and its size (which a narrow
// screen may put on two lines, where a space or a zero-width space allows).
function stage(kind, k, name, shape) {
  const item = element("li", "stage");
  item.dataset.kind = kind;
  if (k !== null) item.dataset.layer = k;
  const thumb = element("span", "stage-thumb");
  thumb.append(element("canvas"), element("span", "mark"));
  thumb.lastChild.hidden = true;
  if (kind === "input") {
    item.appendChild(thumb);
  } else {
    const button = element("button", "stage-button");
    button.type = "button";
    button.tabIndex = -1;
    button.appendChild(thumb);
    button.addEventListener("click", event => { if (event.detail !== 0) inspectStage(item); });
    item.appendChild(button);
  }
  item.append(element("span", "stage-name", name), element("span", "stage-shape", shape));
  return item;
}

// A click in the flow: a layer with maps opens the arithmetic of the map it shows, at its
// strongest pixel; a dense layer or the softmax closes it and brings the dense half into view.
function inspectStage(item) {
  const k = Number(item.dataset.layer);
  const button = item.querySelector(".stage-button");
  rove(document.querySelectorAll(".stage-button"), button);
  if (item.dataset.kind === "maps") {
    const channel = followMaps()[k].channel;
    select(k, channel, strongestPixel(state.outputs[k], channel), button);
    return;
  }
  if (state.selected) closeInspector(false);
  if (state.which !== "cnn") {
    document.querySelector('input[name="which"][value="cnn"]').checked = true;
    state.which = "cnn";
    state.denseClass = null;
    showDense();
  }
  const target = $(item.dataset.kind === "output" ? "softmax-title" : `dense-layer-${k}`);
  if (wide()) $("dense").scrollTop = target.offsetTop - $("dense").offsetTop;  // the right column scrolls itself
  else target.scrollIntoView({block: "start"});
}

// The map shown for each layer with maps ({channel, row, col} by layer index): with a pixel
// inspected, that map and pixel; before it, the map and pixel each layer read most (for a
// convolution, the input map that adds most to the sum and its window's largest product; for
// max pooling, the survivor); after it, the map that reads it (for max pooling, the same map
// halved; for a convolution, the filter it adds most to, at that filter's strongest pixel).
// With nothing inspected, each layer's strongest pixel.
function followMaps() {
  const chain = {};
  const selected = state.selected;
  if (!selected) {
    for (const k of MAP_LAYERS) chain[k] = strongestPixel(state.outputs[k]);
    return chain;
  }
  chain[selected.layer] = {channel: selected.channel, row: selected.row, col: selected.col};
  for (let k = selected.layer; MAP_LAYERS.includes(k - 1); k--) chain[k - 1] = readMost(k, chain[k]);
  for (let k = selected.layer + 1; MAP_LAYERS.includes(k); k++) chain[k] = readBy(k, chain[k - 1]);
  return chain;
}

// The pixel of layer k - 1 that counted most for `pixel` of layer k.
function readMost(k, pixel) {
  const layer = CNN.layers[k], input = state.outputs[k - 1];
  if (layer.type === "MaxPooling2D") {
    const survivor = explainPool(input, layer, pixel.channel, pixel.row, pixel.col).survivor;
    return {channel: pixel.channel, row: survivor.row, col: survivor.col};
  }
  const e = explainConv(input, layer, pixel.channel, pixel.row, pixel.col);
  const part = e.parts[0];
  const n = argmax(part.products.map(Math.abs));
  return {channel: part.channel, row: Math.min(input.height - 1, Math.max(0, e.top + Math.floor(n / e.cols))),
          col: Math.min(input.width - 1, Math.max(0, e.left + (n % e.cols)))};
}

// The pixel of layer k that `pixel` of layer k - 1 feeds most.
function readBy(k, pixel) {
  const layer = CNN.layers[k], t = state.outputs[k];
  if (layer.type === "MaxPooling2D") {
    return {channel: pixel.channel, row: Math.min(t.height - 1, Math.floor(pixel.row / layer.size)),
            col: Math.min(t.width - 1, Math.floor(pixel.col / layer.size))};
  }
  let best = null;
  for (let filter = 0; filter < t.channels; filter++) {
    const strongest = strongestPixel(t, filter);
    const adds = contribution(state.outputs[k - 1], layer, pixel.channel, filter, strongest.row, strongest.col);
    if (!best || adds > best.adds) best = {adds, ...strongest};
  }
  return {channel: best.channel, row: best.row, col: best.col};
}

function showFlow() {
  const chain = followMaps();
  const selected = state.selected;
  for (const item of document.querySelectorAll(".stage")) {
    item.querySelector(".mark").hidden = true;
    paintStage(item, chain);
    const button = item.querySelector(".stage-button");
    if (button) button.setAttribute("aria-current", String(selected !== null && selected.layer === Number(item.dataset.layer)));
  }
  for (const line of document.querySelectorAll("#flow-lines line")) {
    line.classList.toggle("on", selected !== null && [line.dataset.from, line.dataset.to].includes(String(selected.layer)));
  }
  $("flow-hint").textContent = selected ? reading(selected, chain) : "click a layer to inspect it";
}

// One stage's thumbnail: the image with the receptive field of the pixel inspected, a layer's map
// of the chain with its pixel, a dense layer's units, or the probabilities.
function paintStage(item, chain) {
  const canvas = item.querySelector("canvas"), box = item.querySelector(".mark");
  const button = item.querySelector(".stage-button");
  const k = Number(item.dataset.layer), selected = state.selected;
  if (item.dataset.kind === "input") {
    paintImage(canvas, state.pixels);
    if (selected) {
      const field = receptiveField(CNN, selected.layer, selected.row, selected.col);
      mark(box, SIZE, SIZE, field.row, field.col, field.rows, field.cols);
    }
  } else if (item.dataset.kind === "maps") {
    const t = state.outputs[k], {channel, row, col} = chain[k];
    paintMap(canvas, t, channel, mapTop(t, channel));
    if (selected) mark(box, t.height, t.width, row, col);
    const what = CNN.layers[k].type === "Conv2D" ? "filter" : "map";
    button.setAttribute("aria-label", `${CNN.layers[k].name}, ${t.channels} maps of ${t.height}x${t.width}, ` +
                        `showing ${what} ${channel}: inspect it`);
  } else if (item.dataset.kind === "dense") {
    paintUnits(canvas, state.outputs[k]);
    button.setAttribute("aria-label", `${CNN.layers[k].name}, ${SHAPES[k].channels} units: show the dense half`);
  } else {
    const p = probabilities(state.outputs), top = argmax(p);
    paintProbabilities(canvas, p);
    button.setAttribute("aria-label", `softmax: ${CLASSES[top]} ${(100 * p[top]).toFixed(1)}%: ` +
                        "show how it is computed");
  }
}

// "conv_2 filter 5 reads all 64 maps of pool_1; pool_2 map 5 reads it"
function reading(selected, chain) {
  const k = selected.layer, layer = CNN.layers[k];
  const name = n => `${CNN.layers[n].name} ${CNN.layers[n].type === "Conv2D" ? "filter" : "map"} ${chain[n].channel}`;
  const input = k > 0 && MAP_LAYERS.includes(k - 1) ? CNN.layers[k - 1].name : "the image";
  const reads = layer.type === "MaxPooling2D" ? `${name(k - 1)}` :
    SHAPES[k - 1].channels > 1 ? `all ${SHAPES[k - 1].channels} maps of ${input}` : input;
  const after = MAP_LAYERS.includes(k + 1) ? `; ${name(k + 1)} reads it` : "; the dense layers read it";
  return `${name(k)} reads ${reads}${after}`;
}

// A dense layer's units as a small grid, 16 to a row, on their own scale.
function paintUnits(canvas, t) {
  const across = 16, top = brightest(t) || 1;
  paint(canvas, Math.ceil(t.channels / across), across,
        (row, col) => (row * across + col < t.channels ? t.data[row * across + col] / top : null), COLOURS.response);
}

// The probabilities as bars, one class a row, the top class's brightest.
function paintProbabilities(canvas, values) {
  const across = 20, top = argmax(values);
  paint(canvas, values.length * 2, across, (row, col) => {
    const k = row / 2;
    return row % 2 === 0 && col < Math.round(values[k] * across) ? (k === top ? 1 : 0.6) : null;
  }, COLOURS.response);
}

// The lines between neighbouring layers, placed over the thumbnails (again whenever the flow's
// width changes). None between the end of one row and the start of the next on a narrow screen.
function drawFlowLines() {
  const svg = $("flow-lines");
  svg.textContent = "";
  const origin = svg.getBoundingClientRect();
  const items = Array.from(document.querySelectorAll(".stage"));
  for (let n = 1; n < items.length; n++) {
    const a = items[n - 1].querySelector(".stage-thumb").getBoundingClientRect();
    const b = items[n].querySelector(".stage-thumb").getBoundingClientRect();
    if (Math.abs(a.top - b.top) > a.height / 2) continue;
    const heights = readsAll(items[n - 1], items[n]) ? FAN : [0.5];
    for (const height of heights) {
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("x1", a.right - origin.left + 2);
      line.setAttribute("y1", a.top - origin.top + height * a.height);
      line.setAttribute("x2", b.left - origin.left - 2);
      line.setAttribute("y2", b.top - origin.top + b.height / 2);
      line.dataset.from = items[n - 1].dataset.layer ?? "input";
      line.dataset.to = items[n].dataset.layer;
      svg.appendChild(line);
    }
  }
  if (state.outputs) showFlow();
}

// Whether a layer reads every map of the one before it (a convolution, or a dense layer),
// rather than one map (max pooling) or the one image.
function readsAll(before, after) {
  if (after.dataset.kind !== "maps") return true;
  return CNN.layers[after.dataset.layer].type === "Conv2D" && before.dataset.kind !== "input";
}
