// The CNN explorer: a model trained by train.py, run layer by layer in plain JavaScript.
//
// The forward pass below does what Keras does, written to be read like convolution.py:
// a Conv2D layer is a 3x3 multiply-sum at every pixel, a MaxPooling2D layer keeps the
// largest of each 2x2 square, one small function per layer type. The rest of the file
// draws the panels and answers the mouse. Opened as explorer.html#selftest, the page
// also runs every embedded test image and writes the results into itself, which is
// how the project's tests compare it with Keras in a headless browser.
"use strict";

const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
const CLASSES = DATA.classes;
const SIZE = 28;  // Fashion-MNIST images are 28x28 pixels, one grey channel
const GALLERY_PER_CLASS = 5;  // the strip of test images: five of each class

// --- Unpacking what Python embedded --------------------------------------------------

function bytes(base64) {
  const text = atob(base64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function floats(base64) {
  // Keras' float32 weights, byte for byte (little-endian, as every browser's machine is)
  return new Float32Array(bytes(base64).buffer);
}

function unpackNetwork(network) {
  if (!network) return null;
  for (const layer of network.layers) {
    if (layer.kernel) {
      layer.kernel.values = floats(layer.kernel.data);
      layer.bias.values = floats(layer.bias.data);
    }
  }
  return network;
}

// --- Tensors: height x width x channels numbers, stored pixel after pixel as Keras does
// (channels last), so Flatten has nothing to reorder. Float32Array rounds each stored
// value to float32, like Keras.

function tensor(height, width, channels) {
  return {height, width, channels, data: new Float32Array(height * width * channels)};
}

function index(t, row, col, channel) {
  return (row * t.width + col) * t.channels + channel;
}

function at(t, row, col, channel) {
  return t.data[index(t, row, col, channel)];
}

// A kernel is stored as Keras stores it: [row][col][input channel][filter].
function weight(kernel, i, j, channel, filter) {
  const shape = kernel.shape;
  return kernel.values[((i * shape[1] + j) * shape[2] + channel) * shape[3] + filter];
}

// --- The layers, one function each ---------------------------------------------------

// Rescaling(1/255): pixels 0..255 become 0..1
function rescaling(input, layer) {
  const out = tensor(input.height, input.width, input.channels);
  for (let k = 0; k < input.data.length; k++) out.data[k] = input.data[k] * layer.scale + layer.offset;
  return out;
}

// Conv2D: each filter slides over the input one pixel at a time, and each output pixel is the
// sum of the window's pixels times the filter's weights at the same places, over every input
// channel, plus the filter's bias; then the activation (ReLU: negative sums become 0).
// VALID padding slides only where the filter fits entirely: a 3x3 filter fits 26x26 times on
// 28x28 pixels. SAME padding lets the window hang one pixel over each edge, reading 0 there,
// so the map keeps the input's size.
function padding(layer) {
  // Keras puts the odd pixel of SAME padding after the input (bottom, right); a 3x3 filter pads 1 each side.
  return layer.padding === "same" ? {top: Math.floor((layer.kernel.shape[0] - 1) / 2),
                                     left: Math.floor((layer.kernel.shape[1] - 1) / 2)} : {top: 0, left: 0};
}

function conv2d(input, layer) {
  const [rows, cols, channels, filters] = layer.kernel.shape;
  const pad = padding(layer);
  const same = layer.padding === "same";
  const out = tensor(same ? input.height : input.height - rows + 1, same ? input.width : input.width - cols + 1, filters);
  const sums = new Float64Array(filters);
  for (let row = 0; row < out.height; row++) {
    for (let col = 0; col < out.width; col++) {
      for (let filter = 0; filter < filters; filter++) {
        let sum = layer.bias.values[filter];
        for (let i = 0; i < rows; i++) {
          const r = row + i - pad.top;
          if (r < 0 || r >= input.height) continue;  // padding: the window reads 0 here
          for (let j = 0; j < cols; j++) {
            const c = col + j - pad.left;
            if (c < 0 || c >= input.width) continue;
            const base = (r * input.width + c) * channels;
            const w = ((i * cols + j) * channels) * filters + filter;
            for (let channel = 0; channel < channels; channel++) {
              sum += input.data[base + channel] * layer.kernel.values[w + channel * filters];
            }
          }
        }
        out.data[index(out, row, col, filter)] = activate(sum, layer.activation);
      }
    }
  }
  return out;
}

// MaxPooling2D: each map, separately, keeps the largest pixel of each 2x2 square.
// A last row or column that fills no whole square is dropped: 11x11 pools to 5x5.
function maxPooling2d(input, layer) {
  const size = layer.size;
  const out = tensor(Math.floor(input.height / size), Math.floor(input.width / size), input.channels);
  for (let row = 0; row < out.height; row++) {
    for (let col = 0; col < out.width; col++) {
      for (let channel = 0; channel < input.channels; channel++) {
        let largest = -Infinity;
        for (let i = 0; i < size; i++) {
          for (let j = 0; j < size; j++) {
            largest = Math.max(largest, at(input, row * size + i, col * size + j, channel));
          }
        }
        out.data[index(out, row, col, channel)] = largest;
      }
    }
  }
  return out;
}

// Flatten: the same numbers in one row (they are already stored in Keras' order).
function flatten(input) {
  const out = tensor(1, 1, input.data.length);
  out.data.set(input.data);
  return out;
}

// Dense: every output is the sum of every input times its own weight, plus a bias. With a
// softmax, those sums are the logits (kept on the output, for the dense panel), then
// softmax turns them into probabilities.
function dense(input, layer) {
  const [inputs, outputs] = layer.kernel.shape;
  const out = tensor(1, 1, outputs);
  for (let unit = 0; unit < outputs; unit++) {
    let sum = layer.bias.values[unit];
    for (let k = 0; k < inputs; k++) sum += input.data[k] * layer.kernel.values[k * outputs + unit];
    out.data[unit] = layer.activation === "softmax" ? sum : activate(sum, layer.activation);
  }
  if (layer.activation === "softmax") {
    out.logits = Float32Array.from(out.data);
    softmax(out.data);
  }
  return out;
}

// Activation: a separate ReLU layer (one not folded into the layer before it by explorer.py).
function activation(input, layer) {
  const out = tensor(input.height, input.width, input.channels);
  for (let k = 0; k < input.data.length; k++) out.data[k] = activate(input.data[k], layer.activation);
  return out;
}

function activate(x, activation) {
  return activation === "relu" ? Math.max(0, x) : x;  // "linear": unchanged
}

// Softmax: scores into probabilities that sum to 1. Subtracting the largest score first
// changes nothing in the result and keeps exp() from overflowing.
function softmax(scores) {
  const largest = Math.max(...scores);
  let total = 0;
  for (let k = 0; k < scores.length; k++) total += Math.exp(scores[k] - largest);
  for (let k = 0; k < scores.length; k++) scores[k] = Math.exp(scores[k] - largest) / total;
}

const LAYER_FUNCTIONS = {
  Rescaling: rescaling, Conv2D: conv2d, MaxPooling2D: maxPooling2d, Flatten: flatten, Dense: dense,
  Activation: activation,
};

// The whole network on one 28x28 image (pixels 0..255): every layer's output, in order.
function forward(network, pixels) {
  let x = tensor(SIZE, SIZE, 1);
  x.data.set(pixels);
  const outputs = [];
  for (const layer of network.layers) {
    x = LAYER_FUNCTIONS[layer.type](x, layer);
    outputs.push(x);
  }
  return outputs;
}

function probabilities(outputs) {
  return outputs[outputs.length - 1].data;
}

function argmax(values) {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

// --- The arithmetic behind one pixel, for the inspector ------------------------------

// One output pixel of a Conv2D layer, worked out the long way: for each input channel the
// window, the filter's weights for that channel, their products and the channel's total;
// then the sum over channels, the bias and the activation. Channels come sorted by how
// much they contribute (largest first, either sign).
function explainConv(input, layer, filter, row, col) {
  const [rows, cols, channels] = layer.kernel.shape;
  const pad = padding(layer);
  const parts = [];
  let sum = 0;
  for (let channel = 0; channel < channels; channel++) {
    const patch = [], kernel = [], products = [];
    let total = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const r = row + i - pad.top, c = col + j - pad.left;
        const inside = r >= 0 && c >= 0 && r < input.height && c < input.width;
        const pixel = inside ? at(input, r, c, channel) : 0;  // SAME padding's border reads 0
        const w = weight(layer.kernel, i, j, channel, filter);
        patch.push(pixel);
        kernel.push(w);
        products.push(pixel * w);
        total += pixel * w;
      }
    }
    parts.push({channel, patch, kernel, products, total});
    sum += total;
  }
  parts.sort((a, b) => Math.abs(b.total) - Math.abs(a.total));
  const bias = layer.bias.values[filter];
  return {parts, rows, cols, top: row - pad.top, left: col - pad.left, sum, bias, beforeActivation: sum + bias,
          value: activate(sum + bias, layer.activation)};
}

// One output pixel of a MaxPooling2D layer: its square of the previous map, and the survivor.
function explainPool(input, layer, channel, row, col) {
  const square = [];
  for (let i = 0; i < layer.size; i++) {
    for (let j = 0; j < layer.size; j++) {
      square.push({row: row * layer.size + i, col: col * layer.size + j,
                   value: at(input, row * layer.size + i, col * layer.size + j, channel)});
    }
  }
  const survivor = square.reduce((best, cell) => (cell.value > best.value ? cell : best));
  return {square, survivor, value: survivor.value};
}

// --- The page's state ----------------------------------------------------------------

const CNN = unpackNetwork(DATA.cnn);
const DNN = unpackNetwork(DATA.dnn);
const IMAGES = bytes(DATA.images.pixels);
const COLOURS = {response: bytes(DATA.colours.response), kernel: bytes(DATA.colours.kernel)};
const DIGITS = 4;  // every number of the arithmetic, products and totals alike, to 4 decimals
const SELFTEST = location.hash === "#selftest";

const state = {
  pixels: new Float32Array(SIZE * SIZE),  // the input, 0..255
  source: null,     // the test image loaded into the canvas, or null once drawn on
  selected: null,   // {layer: index into CNN.layers, channel, row, col}: the pixel inspected; none at first
  outputs: null,    // the CNN's outputs for the current input, layer by layer
  dnnOutputs: null,
  scale: "map",     // the maps' colour scale: "map", "layer" or "network" (the default: see page.html)
  which: "cnn",     // the network the dense panel explains
  denseClass: null, // the class whose logit is taken apart (null: the top class)
  undo: [],         // earlier inputs, for undo: {pixels, source}
  redo: [],
  slide: null,      // the sliding window while it plays: {k, channel, step, total, timer}
};

// Every Conv2D and MaxPooling2D layer gets a card of feature maps.
const MAP_LAYERS = [];
CNN.layers.forEach((layer, k) => { if (layer.type === "Conv2D" || layer.type === "MaxPooling2D") MAP_LAYERS.push(k); });

function testImage(k) {
  return IMAGES.subarray(k * SIZE * SIZE, (k + 1) * SIZE * SIZE);
}

const $ = id => document.getElementById(id);

// --- Drawing maps with the figures' colours ------------------------------------------

// Paint a canvas one cell per pixel; value(row, col) -> 0..1 picks the colour, null paints it blank.
function paint(canvas, height, width, value, colours) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  const picture = context.createImageData(width, height);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const v = value(row, col);
      const k = (row * width + col) * 4;
      if (v === null) {
        picture.data.set([42, 51, 64, 255], k);  // not computed yet (the sliding window)
        continue;
      }
      const step = Math.round(Math.min(1, Math.max(0, v)) * 255);
      picture.data[k] = colours[step * 3];
      picture.data[k + 1] = colours[step * 3 + 1];
      picture.data[k + 2] = colours[step * 3 + 2];
      picture.data[k + 3] = 255;
    }
  }
  context.putImageData(picture, 0, 0);
}

const GREYS = new Uint8Array(256 * 3).map((v, k) => Math.floor(k / 3));

function paintImage(canvas, pixels) {
  paint(canvas, SIZE, SIZE, (row, col) => pixels[row * SIZE + col] / 255, GREYS);
}

// One map, black at 0 and brightest at `top`.
function paintMap(canvas, t, channel, top) {
  paint(canvas, t.height, t.width, (row, col) => at(t, row, col, channel) / (top || 1), COLOURS.response);
}

// The largest size of a whole layer, of one map, of every map of the network.
function brightest(t) {
  let largest = 0;
  for (const v of t.data) largest = Math.max(largest, Math.abs(v));
  return largest;
}

function mapTop(t, channel) {
  let largest = 0;
  for (let k = channel; k < t.data.length; k += t.channels) largest = Math.max(largest, Math.abs(t.data[k]));
  return largest;
}

function networkTop() {
  return Math.max(...MAP_LAYERS.map(k => brightest(state.outputs[k])));
}

// The value that gets the brightest colour for map `channel` of layer k, under the chosen scale.
function scaleTop(k, channel, tops) {
  const t = state.outputs[k];
  if (state.scale === "map") return mapTop(t, channel);
  return state.scale === "layer" ? tops.layer[k] : tops.network;
}

// Put a highlight box over the cells rows x cols from (row, col) of a map drawn height x width,
// clipped to the map (a SAME-padded window hangs over the edge).
function mark(box, height, width, row, col, rows = 1, cols = 1) {
  const top = Math.max(0, row), left = Math.max(0, col);
  const bottom = Math.min(height, row + rows), right = Math.min(width, col + cols);
  box.hidden = false;
  box.style.top = `${(100 * top) / height}%`;
  box.style.left = `${(100 * left) / width}%`;
  box.style.height = `${(100 * (bottom - top)) / height}%`;
  box.style.width = `${(100 * (right - left)) / width}%`;
}

// Which cell of a canvas drawn height x width a click landed on.
function cellOf(event, canvas, height, width) {
  const box = canvas.getBoundingClientRect();
  const row = Math.floor(((event.clientY - box.top) / box.height) * height);
  const col = Math.floor(((event.clientX - box.left) / box.width) * width);
  return {row: Math.min(height - 1, Math.max(0, row)), col: Math.min(width - 1, Math.max(0, col))};
}

// --- Building the panels -------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function describe(network) {
  return network.layers.filter(l => l.type !== "Flatten").map(l => l.name).join(" → ");
}

function buildHeader() {
  const lines = [`CNN: ${DATA.cnn.file} (${describe(CNN)})`];
  lines.push(DNN ? `DNN: ${DNN.file} (${describe(DNN)})`
                 : `DNN: none beside the CNN (python train.py --models dnn saves ${DATA.dnnExpected})`);
  const folded = CNN.layers.filter(l => l.folded && l.folded.length);
  if (folded.length) {
    lines.push(`Folded for the page, as Keras computes them at inference: ` +
      folded.map(l => `${l.folded.join(" and ")} into ${l.name}`).join("; ") +
      ". Dropout and random augmentation act only while training and are left out.");
  }
  for (const line of lines) $("models").appendChild(element("span", null, line));
}

// Five test images of each class, grouped under the class's name.
function buildGallery() {
  const gallery = $("gallery");
  CLASSES.forEach((name, label) => {
    const group = element("div", "class-group");
    const thumbs = element("div", "thumbs");
    for (let k = 0, shown = 0; k < DATA.images.count && shown < GALLERY_PER_CLASS; k++) {
      if (DATA.images.labels[k] !== label) continue;
      const thumb = element("button", "thumb");
      thumb.type = "button";
      thumb.dataset.image = k;
      thumb.setAttribute("aria-label", `test image ${k}: ${name}`);
      thumb.title = `test image ${k}: ${name}`;
      const canvas = element("canvas");
      paintImage(canvas, testImage(k));
      thumb.appendChild(canvas);
      thumb.tabIndex = k === 0 ? 0 : -1;
      thumb.addEventListener("click", () => { remember(); loadTestImage(k); });
      thumbs.appendChild(thumb);
      shown++;
    }
    group.append(thumbs, element("span", null, name));
    gallery.appendChild(group);
  });
  // One tab stop for the 50 images: left and right step through them, up and down by class.
  gallery.setAttribute("role", "group");
  gallery.setAttribute("aria-label", "Test images: arrow keys move between them, Enter loads one");
  gallery.addEventListener("keydown", event => {
    const all = Array.from(gallery.querySelectorAll(".thumb"));
    const moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -GALLERY_PER_CLASS, ArrowDown: GALLERY_PER_CLASS,
                   Home: -Infinity, End: Infinity};
    const here = all.indexOf(event.target);
    if (here < 0 || !(event.key in moves)) return;
    event.preventDefault();
    const next = all[Math.min(all.length - 1, Math.max(0, here + moves[event.key]))];
    for (const thumb of all) thumb.tabIndex = thumb === next ? 0 : -1;
    next.focus();
  });
}

function verb(layer) {
  if (layer.type !== "Conv2D") return `${layer.size}x${layer.size} max pooling`;
  const [rows, cols] = layer.kernel.shape;
  return `${rows}x${cols} filters${layer.padding === "same" ? ", same padding" : ""}` +
    `${layer.activation === "relu" ? ", ReLU" : ""}`;
}

// One column per block: the Conv2D layers' maps, and below them those of the pooling after them.
function buildLayerColumns() {
  const network = $("network");
  let column = null, previous = null;
  for (const k of MAP_LAYERS) {
    const layer = CNN.layers[k];
    if (!column || (previous && previous.type === "MaxPooling2D")) {
      column = element("div", "block");
      network.appendChild(column);
    }
    const card = element("section", "layer-card");
    card.dataset.layer = k;
    const heading = element("h3", null, layer.name);
    heading.id = `layer-${k}`;
    heading.appendChild(element("span", "hint", verb(layer)));
    card.append(heading);
    if (layer.folded && layer.folded.length) {
      card.appendChild(element("p", "shape", `with ${layer.folded.join(" and ")} folded in`));
    }
    const grid = element("div", "maps");
    grid.setAttribute("role", "group");
    card.append(element("p", "shape"), grid);
    column.appendChild(card);
    previous = layer;
  }
}

// The maps' buttons are made on the first run, when the layer's output sizes are known. One tab
// stop per layer: the arrow keys move between its maps, Enter shows the arithmetic.
function mapButtons(k, t) {
  const grid = document.querySelector(`.layer-card[data-layer="${k}"] .maps`);
  if (grid.children.length === t.channels) return grid.children;
  const layer = CNN.layers[k];
  const what = layer.type === "Conv2D" ? "filter" : "map";
  const columns = Math.min(8, t.channels);
  grid.textContent = "";
  grid.style.setProperty("--columns", columns);
  grid.setAttribute("aria-label", `${layer.name}: ${t.channels} maps. Arrow keys move between them, Enter shows ` +
                    "the arithmetic of the map's strongest pixel");
  for (let channel = 0; channel < t.channels; channel++) {
    const button = element("button", "map");
    button.type = "button";
    button.dataset.channel = channel;
    button.tabIndex = channel === 0 ? 0 : -1;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", `${layer.name} ${what} ${channel}`);
    button.appendChild(element("canvas"));
    button.addEventListener("click", event => {
      const canvas = button.firstChild;
      // A keyboard's Enter clicks with detail 0: the map's strongest pixel; a pointer: the pixel under it.
      const keyboard = event.detail === 0;
      select(k, channel, keyboard ? strongestPixel(t, channel) : cellOf(event, canvas, t.height, t.width));
      // From the keyboard, on to the enlarged map, where the arrow keys move the pixel (Escape comes back).
      if (keyboard) $("zoom").focus({preventScroll: true});
    });
    grid.appendChild(button);
  }
  grid.addEventListener("keydown", event => {
    const button = event.target.closest(".map");
    const moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns, Home: -Infinity, End: Infinity};
    if (!button || !(event.key in moves)) return;
    event.preventDefault();
    const next = Math.min(t.channels - 1, Math.max(0, Number(button.dataset.channel) + moves[event.key]));
    focusMap(k, next);
  });
  const kind = layer.type === "Conv2D" ? "filters" : "maps";
  grid.parentNode.querySelectorAll(".shape")[grid.parentNode.querySelectorAll(".shape").length - 1].textContent =
    `${t.channels} ${kind}, each ${t.height}x${t.width}`;
  return grid.children;
}

function mapButton(k, channel) {
  return document.querySelector(`.layer-card[data-layer="${k}"] .map[data-channel="${channel}"]`);
}

// Roving focus: the map that has the layer's one tab stop.
function focusMap(k, channel) {
  for (const button of document.querySelectorAll(`.layer-card[data-layer="${k}"] .map`)) button.tabIndex = -1;
  const button = mapButton(k, channel);
  button.tabIndex = 0;
  button.focus();
}

function buildLegend() {
  paint($("legend-response"), 1, 256, (row, col) => col / 255, COLOURS.response);
  paint($("legend-zoom"), 1, 256, (row, col) => col / 255, COLOURS.response);
}

function buildBars() {
  const table = $("bars");
  const head = element("thead");
  const headRow = element("tr");
  headRow.append(element("th", null, "class"), element("th", null, "CNN"), element("th", null, DNN ? "DNN" : "DNN (none)"));
  for (const th of headRow.children) th.scope = "col";
  head.appendChild(headRow);
  const body = element("tbody");
  CLASSES.forEach((name, k) => {
    const row = element("tr");
    row.dataset.class = k;
    const th = element("th", null, name);
    th.scope = "row";
    row.appendChild(th);
    for (const which of ["cnn", "dnn"]) {
      const cell = element("td", `bar ${which}`);
      const pair = element("div", "pair");
      const track = element("div", "track");
      track.appendChild(element("span", "fill"));
      pair.append(track, element("span", "value"));
      cell.appendChild(pair);
      row.appendChild(cell);
    }
    body.appendChild(row);
  });
  table.append(head, body);
}

function setUpScale() {
  for (const radio of document.querySelectorAll('input[name="scale"]')) {
    radio.checked = radio.value === state.scale;
    radio.addEventListener("change", () => {
      state.scale = radio.value;
      paintMaps();
      writeHash();
    });
  }
}

// --- Drawing on the canvas, with undo and redo ---------------------------------------

// A round brush with soft edges: full ink within `radius` of the pointer, fading over one pixel.
function brushAt(x, y) {
  const radius = Number($("brush").value);
  const erase = $("erase").checked;
  for (let row = Math.floor(y - radius - 1); row <= y + radius + 1; row++) {
    for (let col = Math.floor(x - radius - 1); col <= x + radius + 1; col++) {
      if (row < 0 || col < 0 || row >= SIZE || col >= SIZE) continue;
      const distance = Math.hypot(row + 0.5 - y, col + 0.5 - x);
      const ink = 255 * Math.min(1, Math.max(0, radius + 0.5 - distance));
      const k = row * SIZE + col;
      state.pixels[k] = erase ? Math.min(state.pixels[k], 255 - ink) : Math.max(state.pixels[k], ink);
    }
  }
}

// Keep the input as it is now, before a stroke, a clear, an invert or a new test image changes it.
function remember() {
  state.undo.push({pixels: Float32Array.from(state.pixels), source: state.source});
  if (state.undo.length > 100) state.undo.shift();
  state.redo = [];
  undoButtons();
}

function restore(from, to) {
  if (!from.length) return;
  to.push({pixels: Float32Array.from(state.pixels), source: state.source});
  const earlier = from.pop();
  state.pixels.set(earlier.pixels);
  state.source = earlier.source;
  undoButtons();
  update();
}

const undo = () => restore(state.undo, state.redo);
const redo = () => restore(state.redo, state.undo);

function undoButtons() {
  $("undo").disabled = state.undo.length === 0;
  $("redo").disabled = state.redo.length === 0;
}

function setUpDrawing() {
  const canvas = $("drawing");
  let last = null;
  const position = event => {
    const box = canvas.getBoundingClientRect();
    return {x: ((event.clientX - box.left) / box.width) * SIZE, y: ((event.clientY - box.top) / box.height) * SIZE};
  };
  // Pointer events cover the mouse, a finger and a pen alike.
  canvas.addEventListener("pointerdown", event => {
    canvas.setPointerCapture(event.pointerId);
    remember();
    last = position(event);
    brushAt(last.x, last.y);
    edited();
  });
  canvas.addEventListener("pointermove", event => {
    if (!last) return;
    const here = position(event);
    // Fill in between pointer events, so a quick stroke stays one line, not dots.
    const steps = Math.ceil(Math.hypot(here.x - last.x, here.y - last.y) * 4);
    for (let s = 1; s <= steps; s++) {
      brushAt(last.x + ((here.x - last.x) * s) / steps, last.y + ((here.y - last.y) * s) / steps);
    }
    last = here;
    edited();
  });
  for (const end of ["pointerup", "pointercancel"]) canvas.addEventListener(end, () => { last = null; });
  // From the keyboard: a pen (the orange box) that the arrow keys move; Space inks where it is,
  // Shift with an arrow inks as it goes. Each press is one step of undo.
  const pen = {row: 14, col: 14};
  const showPen = () => mark($("pen"), SIZE, SIZE, pen.row, pen.col);
  canvas.addEventListener("focus", showPen);
  canvas.addEventListener("blur", () => { $("pen").hidden = true; });
  canvas.addEventListener("keydown", event => {
    const moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
    if (!(event.key in moves) && event.key !== " ") return;
    event.preventDefault();
    if (event.key in moves) {
      pen.row = Math.min(SIZE - 1, Math.max(0, pen.row + moves[event.key][0]));
      pen.col = Math.min(SIZE - 1, Math.max(0, pen.col + moves[event.key][1]));
      showPen();
    }
    if (event.key === " " || event.shiftKey) {
      remember();
      brushAt(pen.col + 0.5, pen.row + 0.5);
      state.source = null;
      update();
    }
  });
  $("clear").addEventListener("click", () => {
    remember();
    state.pixels.fill(0);
    state.source = null;
    update();  // one click, one redraw, at once
  });
  $("invert").addEventListener("click", () => {
    remember();
    for (let k = 0; k < state.pixels.length; k++) state.pixels[k] = 255 - state.pixels[k];
    state.source = null;
    update();
  });
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  document.addEventListener("keydown", event => {
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && (key === "z" || key === "y")) {
      event.preventDefault();
      (key === "y" || event.shiftKey ? redo : undo)();
    } else if (event.key === "Escape" && state.selected) {
      closeInspector();
    }
  });
}

function edited() {
  state.source = null;
  scheduleUpdate();
}

function loadTestImage(k) {
  state.pixels.set(testImage(k));
  state.source = k;
  update();
}

// Many pointer events can arrive between two screen refreshes: recompute once per frame.
let pending = false;
function scheduleUpdate() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    update();
  });
}

function nothingDrawn() {
  return state.pixels.every(v => v === 0);
}

// --- Recomputing and redrawing everything --------------------------------------------

function update() {
  const start = performance.now();
  state.outputs = forward(CNN, state.pixels);
  const computed = performance.now();
  state.dnnOutputs = DNN ? forward(DNN, state.pixels) : null;

  paintImage($("drawing"), state.pixels);
  $("source").textContent = state.source === null ? "your drawing"
    : `test image ${state.source}, true class: ${CLASSES[DATA.images.labels[state.source]]}`;
  const thumbs = document.querySelectorAll(".thumb");
  const chosen = Array.from(thumbs).some(thumb => Number(thumb.dataset.image) === state.source);
  for (const thumb of thumbs) {
    thumb.classList.toggle("chosen", Number(thumb.dataset.image) === state.source);
    if (chosen) thumb.tabIndex = Number(thumb.dataset.image) === state.source ? 0 : -1;  // the gallery's tab stop
  }
  paintMaps();
  showProbabilities();
  showDense();
  if (state.selected) showSelection();
  $("timing").textContent = `The CNN's forward pass took ${(computed - start).toFixed(1)} ms in this page.`;
  writeHash();
}

function paintMaps() {
  const tops = {layer: {}, network: networkTop()};
  for (const k of MAP_LAYERS) tops.layer[k] = brightest(state.outputs[k]);
  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const buttons = mapButtons(k, t);
    for (let channel = 0; channel < t.channels; channel++) {
      const top = scaleTop(k, channel, tops);
      paintMap(buttons[channel].firstChild, t, channel, top);
      buttons[channel].title = `${CNN.layers[k].name}, map ${channel}: largest value ${fixed(mapTop(t, channel))}`;
    }
  }
  const text = {
    map: "0 (black) to each map's own largest value",
    layer: "0 (black) to the largest value of the map's layer",
    network: `0 (black) to ${fixed(tops.network, 2)}, the largest value of any map`,
  };
  $("legend-text").textContent = text[state.scale];
}

function showProbabilities() {
  const cnn = probabilities(state.outputs);
  const dnn = state.dnnOutputs ? probabilities(state.dnnOutputs) : null;
  const empty = nothingDrawn();
  for (const row of document.querySelectorAll("#bars tr[data-class]")) {
    const k = Number(row.dataset.class);
    for (const [which, values] of [["cnn", cnn], ["dnn", dnn]]) {
      const cell = row.querySelector(`.${which}`);
      const p = values ? values[k] : 0;
      cell.querySelector(".fill").style.width = `${100 * p}%`;
      cell.querySelector(".value").textContent = values ? `${(100 * p).toFixed(1)}%` : "";
      cell.classList.toggle("top", !empty && values !== null && argmax(values) === k);
    }
    row.classList.toggle("truth", state.source !== null && DATA.images.labels[state.source] === k);
  }
  const verdict = $("verdict");
  verdict.classList.toggle("empty", empty);
  verdict.classList.remove("disagree");
  if (empty) {
    verdict.textContent = "Nothing drawn: these are the biases. With every pixel 0, each filter's multiply-sum " +
      "is 0 and only its bias is left, so these probabilities say nothing about a garment: no verdict.";
    return;
  }
  const cnnSays = CLASSES[argmax(cnn)];
  verdict.textContent = `CNN: ${cnnSays}`;
  if (dnn) {
    const dnnSays = CLASSES[argmax(dnn)];
    verdict.textContent += dnnSays === cnnSays ? " · DNN agrees" : ` · DNN: ${dnnSays}`;
    verdict.classList.toggle("disagree", dnnSays !== cnnSays);
  }
}

// --- The dense half: flatten, the hidden units, the logits, softmax --------------------

function setUpDense() {
  for (const radio of document.querySelectorAll('input[name="which"]')) {
    radio.disabled = radio.value === "dnn" && !DNN;
    radio.addEventListener("change", () => {
      state.which = radio.value;
      state.denseClass = null;
      showDense();
    });
  }
}

function thousands(n) {
  return n.toLocaleString("en-US");
}

// e^z as a reader can check it: 4 significant digits.
function power(x) {
  const value = Math.exp(x);
  return value >= 1e5 || value < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}

function showDense() {
  const network = state.which === "dnn" && DNN ? DNN : CNN;
  const outputs = network === DNN ? state.dnnOutputs : state.outputs;
  const body = $("dense-body");
  body.textContent = "";
  const layers = network.layers;
  const f = layers.findIndex(l => l.type === "Flatten");
  const last = layers.length - 1;
  const name = network === DNN ? "DNN" : "CNN";

  // Flatten: what goes in, how many numbers come out.
  const before = f > 0 ? outputs[f - 1] : null;
  const flat = outputs[f];
  const flatten = element("p");
  flatten.id = "flatten-text";
  const shape = before ? `${before.height}x${before.width}x${before.channels}` : "";
  flatten.textContent = before && layers[f - 1].type !== "Rescaling"
    ? `Flatten: ${layers[f - 1].name}'s ${shape} maps become one row of ${before.height} x ${before.width} x ` +
      `${before.channels} = ${thousands(flat.channels)} numbers, pixel by pixel with the ${before.channels} maps' ` +
      "values of each pixel side by side. From here on, where a number came from in the image is no longer " +
      "used: every dense unit sees all of them."
    : `Flatten: the ${shape} image becomes one row of ${thousands(flat.channels)} numbers, its pixels scaled ` +
      "to 0..1. The DNN has no maps: it starts here, and a garment moved by one pixel reaches other weights.";
  body.append(element("h3", null, "Flatten"), flatten);
  const strip = element("canvas", "strip");
  strip.setAttribute("aria-hidden", "true");
  const flatTop = brightest(flat);
  paint(strip, 1, flat.channels, (row, col) => flat.data[col] / (flatTop || 1), COLOURS.response);
  body.appendChild(strip);

  // The hidden dense layers: one cell per unit.
  let unitsOf = null;
  for (let k = f + 1; k < last; k++) {
    const layer = layers[k], t = outputs[k];
    if (layer.type !== "Dense") continue;
    const zeros = t.data.filter(v => v === 0).length;
    body.appendChild(element("h3", null,
      `${layer.name}: ${t.channels} units${layer.activation === "relu" ? ", ReLU" : ""}`));
    body.appendChild(element("p", "note",
      `Each unit multiplies all ${thousands(layer.kernel.shape[0])} numbers of its input by its own weights, adds ` +
      `them up with its bias${layer.activation === "relu" ? " and keeps the sum if it is positive" : ""}. ` +
      `${zeros} of the ${t.channels} are 0 for this input.`));
    const units = element("div", "units");
    units.dataset.layer = layer.name;
    units.setAttribute("role", "img");
    units.setAttribute("aria-label", `${layer.name}: ${t.channels} unit values, ${zeros} of them 0; ` +
                       `the largest ${fixed(brightest(t))}`);
    const top = brightest(t) || 1;
    for (let unit = 0; unit < t.channels; unit++) {
      const cell = element("span", "unit");
      const step = Math.round(Math.min(1, Math.max(0, t.data[unit] / top)) * 255);
      cell.style.background = `rgb(${COLOURS.response.subarray(step * 3, step * 3 + 3).join(",")})`;
      cell.dataset.unit = unit;
      cell.dataset.value = t.data[unit];
      cell.title = `unit ${unit}: ${fixed(t.data[unit])}`;
      units.appendChild(cell);
    }
    body.appendChild(units);
    if (k === last - 1) unitsOf = units;
  }

  // The logits: the last layer's sums before softmax.
  const output = outputs[last];
  const z = output.logits;
  const p = output.data;
  const topClass = argmax(p);
  const chosen = state.denseClass === null ? topClass : state.denseClass;
  const lastLayer = layers[last];
  body.appendChild(element("h3", null, `${lastLayer.name}: 10 logits`));
  body.appendChild(element("p", "note",
    `Each class's logit is a multiply-sum of the ${thousands(lastLayer.kernel.shape[0])} numbers before it, plus a ` +
    "bias: a score, any size, either sign. Click a class to see which units pushed its logit up or down most."));
  const table = element("table", "logits");
  table.id = "logits";
  const limit = Math.max(...Array.from(z, Math.abs)) || 1;
  CLASSES.forEach((className, k) => {
    const row = element("tr");
    const button = element("button", "logit", className);
    button.type = "button";
    button.dataset.class = k;
    button.setAttribute("aria-pressed", String(k === chosen));
    button.addEventListener("click", () => {
      state.denseClass = k;
      showDense();
      $("logits").querySelector(`.logit[data-class="${k}"]`).focus();
    });
    const track = element("div", "logit-track");
    const fill = element("span", "fill");
    const share = (50 * Math.abs(z[k])) / limit;
    fill.style.left = z[k] >= 0 ? "50%" : `${50 - share}%`;
    fill.style.width = `${share}%`;
    fill.style.background = z[k] >= 0 ? "#e8604c" : "#4b8fe0";
    track.append(element("span", "zero"), fill);
    track.setAttribute("aria-hidden", "true");
    const value = element("td", null, fixed(z[k], 3));
    value.className = "logit-value";
    value.dataset.value = z[k];
    const cells = [element("td"), element("td"), value];
    cells[0].appendChild(button);
    cells[1].appendChild(track);
    row.append(...cells);
    table.appendChild(row);
  });
  body.appendChild(table);

  // Softmax, worked for the top class.
  const e = Array.from(z, v => Math.exp(v));
  const total = e.reduce((a, b) => a + b, 0);
  body.appendChild(element("h3", null, "Softmax: logits into probabilities"));
  const equation = element("p", "equation");
  equation.id = "softmax";
  const top = CLASSES[topClass];
  equation.append(
    `p(${top}) = e^z(${top}) / (e^z(${CLASSES[0]}) + … + e^z(${CLASSES[9]}))`, element("br"),
    `= e^${fixed(z[topClass], 3)} / (${Array.from(z, v => `e^${fixed(v, 3)}`).join(" + ")})`, element("br"),
    `= ${power(z[topClass])} / (${e.map((v, k) => power(z[k])).join(" + ")})`, element("br"),
    `= ${power(z[topClass])} / ${total >= 1e5 ? total.toExponential(3) : total.toPrecision(4)} = ` +
    `${(e[topClass] / total).toFixed(4)}, shown as ${(100 * p[topClass]).toFixed(1)}% above.`);
  body.appendChild(equation);
  body.appendChild(element("p", "note",
    "e^z is always positive and grows fast: the largest logit takes most of the total. Logits to 3 decimals, " +
    "powers to 4 significant digits; the result is computed from the unrounded numbers."));

  // Which units pushed the chosen class's logit up or down most.
  const input = outputs[last - 1];
  const w = lastLayer.kernel.values, classes = lastLayer.kernel.shape[1];
  const contributions = Array.from(input.data, (h, j) => ({unit: j, h, w: w[j * classes + chosen], c: h * w[j * classes + chosen]}));
  const sorted = contributions.filter(x => x.c !== 0).sort((a, b) => b.c - a.c);
  const up = sorted.filter(x => x.c > 0).slice(0, 5), down = sorted.filter(x => x.c < 0).reverse().slice(0, 5);
  const unitName = layers[last - 1].type === "Dense" ? "unit" : "input";
  body.appendChild(element("h3", null, `Why ${CLASSES[chosen]}'s logit is ${fixed(z[chosen], 3)}`));
  const pushes = element("div", "pushes");
  pushes.id = "pushes";
  for (const [title, list, className] of [["pushed it up most", up, "up-text"], ["pushed it down most", down, "down-text"]]) {
    const t = element("table");
    t.appendChild(element("caption", null, title));
    for (const x of list) {
      const tr = element("tr");
      tr.dataset.unit = x.unit;
      tr.append(element("td", null, `${unitName} ${x.unit}`), element("td", null, `${fixed(x.h)} × ${fixed(x.w)}`),
                element("td", className, `${x.c > 0 ? "+" : ""}${fixed(x.c)}`));
      t.appendChild(tr);
    }
    if (!list.length) t.appendChild(element("tr")).appendChild(element("td", null, "none"));
    pushes.appendChild(t);
  }
  body.appendChild(pushes);
  const sum = contributions.reduce((a, x) => a + x.c, 0);
  const bias = lastLayer.bias.values[chosen];
  body.appendChild(element("p", "note",
    `All ${input.channels} products add up to ${fixed(sum)}; with the bias ${fixed(bias)} that is the logit ` +
    `${fixed(sum + bias)} (4 decimals, from the unrounded numbers). ${sorted.length < input.channels ?
      `${input.channels - sorted.length} ${unitName}s are 0 and push neither way.` : ""}`));
  if (unitsOf) {
    for (const x of up) unitsOf.children[x.unit].classList.add("up");
    for (const x of down) unitsOf.children[x.unit].classList.add("down");
    body.appendChild(element("p", "note", "Outlined in the strip above: red, the units that pushed up most; " +
                                          "blue, those that pushed down most."));
  }
}

// --- The inspector: one map enlarged, one pixel's arithmetic --------------------------

function select(layer, channel, cell) {
  stopSlide();
  state.selected = {layer, channel, row: cell.row, col: cell.col};
  openInspector();
  showSelection();
  writeHash();
}

function openInspector() {
  const inspector = $("inspector");
  if (inspector.hidden) {
    inspector.hidden = false;
    document.body.classList.add("inspecting");
  }
  // The page has made room for the panel: bring the clicked map back into view beside it.
  const {layer, channel} = state.selected;
  const button = mapButton(layer, channel);
  if (button) button.scrollIntoView({block: "nearest", inline: "nearest"});
}

function closeInspector() {
  const selected = state.selected;
  stopSlide();
  state.selected = null;
  $("inspector").hidden = true;
  document.body.classList.remove("inspecting");
  $("drawing-mark").hidden = true;
  for (const button of document.querySelectorAll('.map[aria-pressed="true"]')) button.setAttribute("aria-pressed", "false");
  writeHash();
  if (selected) focusMap(selected.layer, selected.channel);
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
    const moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
    const {layer, channel, row, col} = state.selected;
    const t = state.outputs[layer];
    if (event.key in moves) {
      event.preventDefault();
      const [down, across] = moves[event.key];
      select(layer, channel, {row: Math.min(t.height - 1, Math.max(0, row + down)),
                              col: Math.min(t.width - 1, Math.max(0, col + across))});
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(layer, channel, {row, col});
      $("explanation").scrollIntoView({block: "nearest"});
    }
  });
  $("close").addEventListener("click", closeInspector);
  $("play").addEventListener("click", () => (state.slide && state.slide.timer ? pauseSlide() : playSlide()));
}

function showSelection() {
  for (const button of document.querySelectorAll('.map[aria-pressed="true"]')) button.setAttribute("aria-pressed", "false");
  if (!state.selected) return;
  const {layer: k, channel, row, col} = state.selected;
  const layer = CNN.layers[k];
  const t = state.outputs[k];
  const what = layer.type === "Conv2D" ? "filter" : "map";
  const button = mapButton(k, channel);
  button.setAttribute("aria-pressed", "true");
  for (const other of button.parentNode.children) other.tabIndex = other === button ? 0 : -1;

  // The map enlarged, on its own scale; while the window slides, only the pixels it has reached.
  const top = mapTop(t, channel);
  const reached = state.slide ? row * t.width + col : Infinity;
  paint($("zoom"), t.height, t.width,
        (r, c) => (r * t.width + c <= reached ? at(t, r, c, channel) / (top || 1) : null), COLOURS.response);
  mark($("zoom-mark"), t.height, t.width, row, col);
  $("zoom-scale").textContent = `this map's own scale: 0 to ${fixed(top)}`;
  $("zoom-caption").textContent = `${layer.name} ${what} ${channel}, ${t.height}x${t.width}`;
  const field = receptiveField(k, row, col);
  mark($("drawing-mark"), SIZE, SIZE, field.row, field.col, field.rows, field.cols);
  const fieldTop = Math.max(0, field.row), fieldLeft = Math.max(0, field.col);
  const fieldBottom = Math.min(SIZE, field.row + field.rows) - 1, fieldRight = Math.min(SIZE, field.col + field.cols) - 1;
  $("zoom-note").textContent =
    `Arrow keys or a click move the pixel. This one depends on rows ${fieldTop}-${fieldBottom}, columns ` +
    `${fieldLeft}-${fieldRight} of the input (boxed on the drawing).`;
  $("inspector-title").textContent =
    `${layer.name}, ${what} ${channel}, pixel (row ${row}, column ${col}) = ${fixed(at(t, row, col, channel))}`;
  $("slide").hidden = layer.type !== "Conv2D";

  const explanation = $("explanation");
  explanation.textContent = "";
  const input = layerInput(k);
  let result;
  if (layer.type === "Conv2D") {
    const e = explainConv(input, layer, channel, row, col);
    // While the window slides, the input map shown stays the one it started on.
    if (state.slide && state.slide.inputChannel === undefined) state.slide.inputChannel = e.parts[0].channel;
    showSource(k, input, state.slide ? state.slide.inputChannel : e.parts[0].channel, e.top, e.left, e.rows, e.cols);
    result = showConv(explanation, k, e, row, col);
  } else {
    const e = explainPool(input, layer, channel, row, col);
    showSource(k, input, channel, row * layer.size, col * layer.size, layer.size, layer.size);
    result = showPool(explanation, k, e, channel);
  }
  // The map's own value, for a reader (and the self-test) to compare with the arithmetic.
  const check = element("p", "check");
  check.append(`The map holds ${fixed(at(t, row, col, channel))} at this pixel; the arithmetic gives `);
  const output = element("output", null, fixed(result));
  output.id = "explained-value";
  output.dataset.value = result;
  check.append(output, ".");
  explanation.appendChild(check);
  if (state.slide) {
    const status = $("slide-status");
    status.dataset.step = reached;
    status.textContent = `The window at row ${row}, column ${col}: step ${reached + 1} of ${t.height * t.width}, ` +
      "row by row, each step one multiply-sum.";
  }
}

// What the layer looks at, beside the map: the image, or the input map that counts most, with the window boxed.
function showSource(k, input, channel, row, col, rows, cols) {
  const onImage = k === 0 || CNN.layers[k - 1].type === "Rescaling";
  const top = onImage ? Math.max(1e-9, brightest(input)) : mapTop(input, channel);
  paint($("source-map"), input.height, input.width, (r, c) => at(input, r, c, channel) / (top || 1),
        onImage ? GREYS : COLOURS.response);
  mark($("source-mark"), input.height, input.width, row, col, rows, cols);
  $("source-caption").textContent = onImage ? `its input: the image, ${input.height}x${input.width}`
    : `its input: ${CNN.layers[k - 1].name} map ${channel}` +
      (input.channels > 1 && CNN.layers[k].type === "Conv2D"
        ? (state.slide ? `, one of the ${input.channels} the window covers` : ` (the one of ${input.channels} that counts most here)`)
        : "");
}

// --- The sliding window: the filter steps across its input row by row, filling the map --

function playSlide() {
  if (!state.selected || CNN.layers[state.selected.layer].type !== "Conv2D") return;
  const {layer: k, channel} = state.selected;
  const t = state.outputs[k];
  if (!state.slide || state.slide.k !== k || state.slide.channel !== channel) {
    state.slide = {k, channel, step: 0, total: t.height * t.width, timer: null};
  }
  $("play").setAttribute("aria-pressed", "true");
  $("play").textContent = "❚❚ pause";
  slideStep();
}

function slideStep() {
  const slide = state.slide;
  if (!slide) return;
  const t = state.outputs[slide.k];
  state.selected = {layer: slide.k, channel: slide.channel, row: Math.floor(slide.step / t.width),
                    col: slide.step % t.width};
  showSelection();
  writeHash();
  slide.step++;
  if (slide.step >= slide.total) {
    stopSlide();
    showSelection();
    return;
  }
  slide.timer = setTimeout(slideStep, Number($("pace").value));
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

// What layer k received: the previous layer's output, or the image itself for the first layer.
function layerInput(k) {
  if (k > 0) return state.outputs[k - 1];
  const image = tensor(SIZE, SIZE, 1);
  image.data.set(state.pixels);
  return image;
}

// The square of the input image that one pixel of layer k depends on, found by walking
// back through the layers: each 3x3 convolution widens it by 2 pixels (and SAME padding
// centres it on the pixel), each 2x2 pooling doubles it. A pixel of the course CNN's conv_1
// sees 3x3 pixels of the image, one of conv_2 sees 8x8. It can hang over the image's edge.
function receptiveField(k, row, col) {
  let field = {row, col, rows: 1, cols: 1};
  for (let l = k; l >= 0; l--) {
    const layer = CNN.layers[l];
    if (layer.type === "Conv2D") {
      const pad = padding(layer);
      field = {row: field.row - pad.top, col: field.col - pad.left,
               rows: field.rows + layer.kernel.shape[0] - 1, cols: field.cols + layer.kernel.shape[1] - 1};
    } else if (layer.type === "MaxPooling2D") {
      const size = layer.size;
      field = {row: field.row * size, col: field.col * size, rows: field.rows * size, cols: field.cols * size};
    }
  }
  return field;
}

function fixed(x, digits = DIGITS) {
  const text = x.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;  // no "-0.0000"
}

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
        td.style.color = light ? "#000" : "#fff";  // 4.5:1 or better either way
      }
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  return table;
}

// The relative luminance of WCAG 2: a light background gets black text, a dark one white.
function light(r, g, b) {
  const linear = v => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) > 0.179;
}

// Weights and products: red for positive, blue for negative, as in the filters figure.
function diverging(limit) {
  return x => {
    const step = Math.round((0.5 + 0.5 * Math.max(-1, Math.min(1, x / (limit || 1)))) * 255);
    const [r, g, b] = COLOURS.kernel.subarray(step * 3, step * 3 + 3);
    return [r, g, b, light(r, g, b)];
  };
}

// Pixels of the input as the layer sees them: grey for the image, the map colours for maps.
function sequential(limit, colours) {
  return x => {
    const step = Math.round(Math.min(1, Math.max(0, x / (limit || 1))) * 255);
    const [r, g, b] = colours.subarray(step * 3, step * 3 + 3);
    return [r, g, b, light(r, g, b)];
  };
}

function showConv(explanation, k, e, row, col) {
  const layer = CNN.layers[k];
  const input = layerInput(k);
  const source = k === 0 ? {name: "the image", type: "Input"} : CNN.layers[k - 1];
  // The first conv layer looks at the image itself (rescaled, in train.py's models): one grey channel.
  const onImage = source.type === "Input" || source.type === "Rescaling";
  const channels = e.parts.length;
  const windowText = `rows ${e.top} to ${e.top + e.rows - 1}, columns ${e.left} to ${e.left + e.cols - 1}`;
  const outside = (i, j) => e.top + i < 0 || e.left + j < 0 || e.top + i >= input.height || e.left + j >= input.width;
  const padded = layer.padding === "same" && e.parts[0].patch.some((v, n) => outside(Math.floor(n / e.cols), n % e.cols));
  const intro = element("p");
  const paddingText = padded ? " Part of the window hangs over the edge: SAME padding reads 0 there (striped)." : "";
  if (channels === 1) {
    const scaled = source.type === "Rescaling"
      ? ` The ${source.name} layer has already multiplied the pixels by ${Number(source.scale.toPrecision(3))}: ` +
        `0..255 became ${fixed(source.offset, 0)}..${fixed(255 * source.scale + source.offset, 0)}.` : "";
    intro.textContent = `This pixel looks at the ${e.rows}x${e.cols} window at ${windowText} of ` +
      `${onImage ? "the input (boxed on the drawing)" : `${source.name}'s map`}.${scaled} ` +
      "Each pixel of the window is multiplied by the filter's weight at the same place; the products are summed." +
      paddingText;
  } else {
    intro.textContent = `This pixel looks at a ${e.rows}x${e.cols} window, ${windowText}, of every one of the ` +
      `${channels} maps of ${source.name}, each through its own ${e.rows}x${e.cols} weights: ` +
      `${channels} x ${e.rows * e.cols} = ${thousands(channels * e.rows * e.cols)} products.${paddingText} ` +
      `The ${Math.min(3, channels)} maps that contribute most (either sign):`;
  }
  explanation.appendChild(intro);
  if (layer.folded && layer.folded.length) {
    explanation.appendChild(element("p", "note", `These weights and this bias have ${layer.folded.join(" and ")} ` +
      "folded in: batch norm's (x - mean) / sqrt(variance + epsilon) x gamma + beta is one multiplication per " +
      "filter and one addition, so it can be done on the weights and the bias once, instead of on every output."));
  }

  const inputColours = onImage ? GREYS : COLOURS.response;
  const inputTop = onImage ? 255 * (source.scale || 1) + (source.offset || 0) : brightest(input);
  const shown = e.parts.slice(0, 3);
  for (const part of shown) {
    const block = element("div", "worked");
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
    explanation.appendChild(block);
  }

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
  explanation.appendChild(lines);
  explanation.appendChild(element("p", "note rounding",
    `Every number here is rounded to ${DIGITS} decimals, and each total is the sum of the unrounded numbers: ` +
    "adding up the shown numbers can miss the shown total by a few units in the last decimal."));
  return e.value;
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

function titled(title, content) {
  const box = element("figure", "titled");
  box.append(content, element("figcaption", null, title));
  return box;
}

// --- The address follows the view ----------------------------------------------------

// explorer.html#image=23&layer=conv_2&map=16&row=7&col=9&scale=layer opens on that test image,
// pixel and colour scale: a link a teacher can hand out, kept up to date as the learner clicks.
let written = "";
function writeHash() {
  if (SELFTEST) return;
  const link = new URLSearchParams();
  if (state.source !== null) link.set("image", state.source);
  else if (!nothingDrawn()) link.set("drawing", "yours");  // a drawing is not in the address
  if (state.selected) {
    const {layer, channel, row, col} = state.selected;
    link.set("layer", CNN.layers[layer].name);
    link.set("map", channel);
    link.set("row", row);
    link.set("col", col);
  }
  link.set("scale", state.scale);
  written = `#${link}`;
  // Browsers ignore a page that rewrites its address too often (a held arrow key, the fast
  // sliding window): at most one rewrite every 100 ms, and the last one always lands.
  clearTimeout(hashTimer);
  const wait = lastHashWrite + 100 - performance.now();
  if (wait > 0) {
    hashTimer = setTimeout(writeHash, wait);
    return;
  }
  lastHashWrite = performance.now();
  if (location.hash !== written) history.replaceState(null, "", written);
}
let hashTimer = null, lastHashWrite = -Infinity;

function openFromLink() {
  const link = new URLSearchParams(location.hash.slice(1));
  const number = (name, count, otherwise) => {
    const value = Number(link.get(name));
    return link.has(name) && Number.isInteger(value) && value >= 0 && value < count ? value : otherwise;
  };
  if (["map", "layer", "network"].includes(link.get("scale"))) state.scale = link.get("scale");
  for (const radio of document.querySelectorAll('input[name="scale"]')) radio.checked = radio.value === state.scale;
  loadTestImage(number("image", DATA.images.count, 0));
  const k = MAP_LAYERS.find(l => CNN.layers[l].name === link.get("layer"));
  if (k === undefined || !link.has("map")) {
    if (state.selected) closeInspector();
    return;
  }
  const t = state.outputs[k];
  const channel = number("map", t.channels, 0);
  const strongest = strongestPixel(t, channel);
  select(k, channel, {row: number("row", t.height, strongest.row), col: number("col", t.width, strongest.col)});
}

// --- Self-test (explorer.html#selftest): the page against Keras, in a headless browser --

// Runs both networks on every embedded test image, times the CNN, and for test image 0 clicks
// the strongest pixel of each layer's maps (the small map, then the pixel in the enlarged
// one, as a reader would); writes it all as JSON into a "selftest" element at the page's end.
function selfTest() {
  const count = DATA.images.count;
  const result = {images: count, cnn: [], dnn: [], cnnClasses: [], dnnClasses: [], clicks: []};
  let elapsed = 0;
  for (let k = 0; k < count; k++) {
    const start = performance.now();
    const cnn = probabilities(forward(CNN, testImage(k)));
    elapsed += performance.now() - start;
    result.cnn.push(Array.from(cnn));
    result.cnnClasses.push(argmax(cnn));
    if (DNN) {
      const dnn = probabilities(forward(DNN, testImage(k)));
      result.dnn.push(Array.from(dnn));
      result.dnnClasses.push(argmax(dnn));
    }
  }
  result.forwardMs = elapsed / count;

  loadTestImage(0);
  // A redraw as a learner sees it: with a pixel of the last conv layer explained in the panel.
  const last = MAP_LAYERS.filter(k => CNN.layers[k].type === "Conv2D").pop();
  select(last, 0, strongestPixel(state.outputs[last], 0));
  const redraws = 20;
  const start = performance.now();
  for (let k = 0; k < redraws; k++) update();
  result.updateMs = (performance.now() - start) / redraws;

  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const aim = strongestPixel(t);
    clickAt(mapButton(k, aim.channel), 0.5, 0.5);
    clickAt($("zoom"), (aim.row + 0.5) / t.height, (aim.col + 0.5) / t.width);
    const {channel, row, col} = state.selected;
    result.clicks.push({layer: CNN.layers[k].name, aim, channel, row, col, map: at(t, row, col, channel),
                        explained: Number($("explained-value").dataset.value)});
  }
  const pre = element("pre", null, JSON.stringify(result));
  pre.id = "selftest";
  document.body.appendChild(pre);
}

// The largest value of a layer's output (or of one of its maps): which map, and where in it.
function strongestPixel(t, channel) {
  let best = channel === undefined ? argmax(t.data) : channel;
  if (channel !== undefined) {
    for (let k = channel; k < t.data.length; k += t.channels) if (t.data[k] > t.data[best]) best = k;
  }
  const pixel = Math.floor(best / t.channels);
  return {channel: best % t.channels, row: Math.floor(pixel / t.width), col: pixel % t.width};
}

// A real click on an element, at a fraction of its height and width.
function clickAt(target, down, across) {
  const box = target.getBoundingClientRect();
  target.dispatchEvent(new MouseEvent("click", {
    bubbles: true, detail: 1, clientX: box.left + across * box.width, clientY: box.top + down * box.height,
  }));
}

// --- Start ---------------------------------------------------------------------------

buildHeader();
buildGallery();
buildLayerColumns();
buildBars();
buildLegend();
setUpScale();
setUpDrawing();
setUpDense();
setUpInspector();
for (let k = 0; k < 3; k++) forward(CNN, testImage(k));  // the JavaScript engine compiles the hot loops here
openFromLink();
window.addEventListener("hashchange", () => { if (location.hash !== written && !SELFTEST) openFromLink(); });
$("footer").textContent =
  `Weights from ${DATA.cnn.file} (${DATA.cnn.precision})` + (DNN ? ` and ${DNN.file} (${DNN.precision})` : "") +
  `; ${DATA.images.count} Fashion-MNIST test images. Everything runs in this page, offline.`;
for (const network of [CNN, DNN]) {
  if (network && network.precision !== "float32") {
    document.querySelector(".outputs-card").appendChild(element("p", "note",
      `Keras computes the ${network.name} with the ${network.precision} policy (16-bit arithmetic), this page ` +
      "in float32: their probabilities can differ in the third decimal."));
  }
}
if (SELFTEST) selfTest();
window.explorerReady = true;
