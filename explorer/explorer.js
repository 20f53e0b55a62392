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

const state = {
  pixels: new Float32Array(SIZE * SIZE),  // the input, 0..255
  source: null,     // the test image loaded into the canvas, or null once drawn on
  selected: null,   // {layer: index into CNN.layers, channel, row, col}: the map and pixel inspected
  outputs: null,    // the CNN's outputs for the current input, layer by layer
  dnnOutputs: null,
};

// Every Conv2D and MaxPooling2D layer gets a column of feature maps.
const MAP_LAYERS = [];
CNN.layers.forEach((layer, k) => { if (layer.type === "Conv2D" || layer.type === "MaxPooling2D") MAP_LAYERS.push(k); });

function testImage(k) {
  return IMAGES.subarray(k * SIZE * SIZE, (k + 1) * SIZE * SIZE);
}

// --- Drawing maps with the figures' colours ------------------------------------------

// Paint a canvas one cell per pixel; value(row, col) -> 0..1 picks the colour.
function paint(canvas, height, width, value, colours) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  const picture = context.createImageData(width, height);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const step = Math.round(Math.min(1, Math.max(0, value(row, col))) * 255);
      const k = (row * width + col) * 4;
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

// A map of a layer, its colours scaled to the layer's brightest pixel for this input,
// so the maps of one layer can be compared with each other.
function paintMap(canvas, t, channel, brightest) {
  paint(canvas, t.height, t.width, (row, col) => at(t, row, col, channel) / brightest, COLOURS.response);
}

function brightest(t) {
  let largest = 0;
  for (const v of t.data) largest = Math.max(largest, Math.abs(v));
  return largest || 1;
}

// Put a highlight box over the cells rows x cols from (row, col) of a map drawn height x width.
function mark(box, height, width, row, col, rows = 1, cols = 1) {
  box.hidden = false;
  box.style.top = `${(100 * row) / height}%`;
  box.style.left = `${(100 * col) / width}%`;
  box.style.height = `${(100 * rows) / height}%`;
  box.style.width = `${(100 * cols) / width}%`;
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
  const models = document.getElementById("models");
  for (const line of lines) models.appendChild(element("span", null, line));
}

// Five test images of each class, grouped under the class's name.
function buildGallery() {
  const gallery = document.getElementById("gallery");
  CLASSES.forEach((name, label) => {
    const group = element("div", "class-group");
    const thumbs = element("div", "thumbs");
    for (let k = 0, shown = 0; k < DATA.images.count && shown < GALLERY_PER_CLASS; k++) {
      if (DATA.images.labels[k] !== label) continue;
      const thumb = element("button", "thumb");
      thumb.dataset.image = k;
      thumb.title = `test image ${k}: ${name}`;
      const canvas = element("canvas");
      paintImage(canvas, testImage(k));
      thumb.appendChild(canvas);
      thumb.addEventListener("click", () => loadTestImage(k));
      thumbs.appendChild(thumb);
      shown++;
    }
    group.append(thumbs, element("span", null, name));
    gallery.appendChild(group);
  });
}

// One column per block: a Conv2D layer's maps, and below them those of the pooling after it.
function buildLayerColumns() {
  const network = document.getElementById("network");
  const outputsCard = network.querySelector(".outputs-card");
  let column = null;
  for (const k of MAP_LAYERS) {
    const layer = CNN.layers[k];
    if (!column || layer.type === "Conv2D") {
      column = element("div", "block");
      network.insertBefore(column, outputsCard);
    }
    const card = element("section", "card layer-card");
    card.dataset.layer = k;
    const verb = layer.type === "Conv2D"
      ? `${layer.kernel.shape[0]}x${layer.kernel.shape[1]} filters${layer.activation === "relu" ? ", ReLU" : ""}`
      : `${layer.size}x${layer.size} max pooling`;
    const heading = element("h2", null, layer.name);
    heading.appendChild(element("span", "hint", verb));
    card.append(heading, element("p", "shape"), element("div", "maps"));
    column.appendChild(card);
  }
}

// The maps' canvases are made on the first run, when the layer's output sizes are known.
function mapCanvases(k, t) {
  const grid = document.querySelector(`.layer-card[data-layer="${k}"] .maps`);
  if (grid.children.length !== t.channels) {
    grid.textContent = "";
    grid.style.setProperty("--columns", Math.min(8, t.channels));
    for (let channel = 0; channel < t.channels; channel++) {
      const canvas = element("canvas", "map");
      canvas.dataset.channel = channel;
      canvas.title = `${CNN.layers[k].name}, map ${channel}`;
      canvas.addEventListener("click", event => {
        select(k, channel, cellOf(event, canvas, t.height, t.width));
      });
      grid.appendChild(canvas);
    }
    const what = CNN.layers[k].type === "Conv2D" ? "filters" : "maps";
    grid.parentNode.querySelector(".shape").textContent = `${t.channels} ${what}, each ${t.height}x${t.width}`;
  }
  return grid.children;
}

function buildLegend() {
  paint(document.getElementById("legend-response"), 1, 256, (row, col) => col / 255, COLOURS.response);
  paint(document.getElementById("legend-kernel"), 1, 256, (row, col) => col / 255, COLOURS.kernel);
}

function buildBars() {
  const table = document.getElementById("bars");
  const head = element("tr");
  head.append(element("th"), element("th", null, "CNN"), element("th", null, DNN ? "DNN" : "DNN (none)"));
  table.appendChild(head);
  CLASSES.forEach((name, k) => {
    const row = element("tr");
    row.dataset.class = k;
    row.appendChild(element("th", null, name));
    for (const which of ["cnn", "dnn"]) {
      const cell = element("td", `bar ${which}`);
      cell.append(element("span", "fill"), element("span", "value"));
      row.appendChild(cell);
    }
    table.appendChild(row);
  });
}

// --- Drawing on the canvas -----------------------------------------------------------

// A round brush with soft edges: full ink within `radius` of the pointer, fading over one pixel.
function brushAt(x, y) {
  const radius = Number(document.getElementById("brush").value);
  const erase = document.getElementById("erase").checked;
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

function setUpDrawing() {
  const canvas = document.getElementById("drawing");
  let last = null;
  const position = event => {
    const box = canvas.getBoundingClientRect();
    return {x: ((event.clientX - box.left) / box.width) * SIZE, y: ((event.clientY - box.top) / box.height) * SIZE};
  };
  // Pointer events cover the mouse, a finger and a pen alike.
  canvas.addEventListener("pointerdown", event => {
    canvas.setPointerCapture(event.pointerId);
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
  document.getElementById("clear").addEventListener("click", () => {
    state.pixels.fill(0);
    edited();
  });
  document.getElementById("invert").addEventListener("click", () => {
    for (let k = 0; k < state.pixels.length; k++) state.pixels[k] = 255 - state.pixels[k];
    edited();
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

// --- Recomputing and redrawing everything --------------------------------------------

function update() {
  const start = performance.now();
  state.outputs = forward(CNN, state.pixels);
  const computed = performance.now();
  state.dnnOutputs = DNN ? forward(DNN, state.pixels) : null;

  paintImage(document.getElementById("drawing"), state.pixels);
  const label = state.source === null ? "your drawing"
    : `test image ${state.source}, true class: ${CLASSES[DATA.images.labels[state.source]]}`;
  document.getElementById("source").textContent = label;
  for (const thumb of document.querySelectorAll(".thumb")) {
    thumb.classList.toggle("chosen", Number(thumb.dataset.image) === state.source);
  }
  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const top = brightest(t);
    const canvases = mapCanvases(k, t);
    for (let channel = 0; channel < t.channels; channel++) paintMap(canvases[channel], t, channel, top);
  }
  showProbabilities();
  showSelection();
  document.getElementById("timing").textContent =
    `The CNN's forward pass took ${(computed - start).toFixed(1)} ms in this page.`;
}

function showProbabilities() {
  const cnn = probabilities(state.outputs);
  const dnn = state.dnnOutputs ? probabilities(state.dnnOutputs) : null;
  for (const row of document.querySelectorAll("#bars tr[data-class]")) {
    const k = Number(row.dataset.class);
    for (const [which, values] of [["cnn", cnn], ["dnn", dnn]]) {
      const cell = row.querySelector(`.${which}`);
      const p = values ? values[k] : 0;
      cell.querySelector(".fill").style.width = `${100 * p}%`;
      cell.querySelector(".value").textContent = values ? `${(100 * p).toFixed(1)}%` : "";
      cell.classList.toggle("top", values !== null && argmax(values) === k);
    }
    row.classList.toggle("truth", state.source !== null && DATA.images.labels[state.source] === k);
  }
  const verdict = document.getElementById("verdict");
  const cnnSays = CLASSES[argmax(cnn)];
  verdict.textContent = `CNN: ${cnnSays}`;
  if (dnn) {
    const dnnSays = CLASSES[argmax(dnn)];
    verdict.textContent += dnnSays === cnnSays ? ` · DNN agrees` : ` · DNN: ${dnnSays}`;
    verdict.classList.toggle("disagree", dnnSays !== cnnSays);
  }
}

// --- The inspector: one map enlarged, one pixel's arithmetic --------------------------

function select(layer, channel, cell) {
  state.selected = {layer, channel, row: cell.row, col: cell.col};
  showSelection();
}

function showSelection() {
  for (const canvas of document.querySelectorAll(".map.selected")) canvas.classList.remove("selected");
  if (!state.selected) return;
  const {layer: k, channel, row, col} = state.selected;
  const layer = CNN.layers[k];
  const t = state.outputs[k];
  const what = layer.type === "Conv2D" ? "filter" : "map";
  document.querySelector(`.layer-card[data-layer="${k}"] .map[data-channel="${channel}"]`).classList.add("selected");

  const zoom = document.getElementById("zoom");
  paintMap(zoom, t, channel, brightest(t));
  mark(document.getElementById("zoom-mark"), t.height, t.width, row, col);
  const field = receptiveField(k, row, col);
  mark(document.getElementById("drawing-mark"), SIZE, SIZE, field.row, field.col, field.rows, field.cols);
  document.getElementById("zoom-note").textContent =
    `${layer.name}, ${what} ${channel}: ${t.height}x${t.width}; click another pixel. ` +
    `This one depends on the ${field.rows}x${field.cols} square of the input at rows ${field.row}-` +
    `${field.row + field.rows - 1}, columns ${field.col}-${field.col + field.cols - 1}, boxed on the drawing.`;
  document.getElementById("inspector-title").textContent =
    `The arithmetic: ${layer.name}, ${what} ${channel}, pixel (row ${row}, col ${col})`;

  const explanation = document.getElementById("explanation");
  explanation.textContent = "";
  const input = layerInput(k);
  const result = layer.type === "Conv2D"
    ? showConv(explanation, k, explainConv(input, layer, channel, row, col), row, col)
    : showPool(explanation, k, explainPool(input, layer, channel, row, col), channel);
  // The map's own value, for a reader (and the self-test) to compare with the arithmetic.
  const check = element("p", "check");
  check.append(`The map holds ${fixed(at(t, row, col, channel), 4)} at this pixel; the arithmetic gives `);
  const output = element("output", null, fixed(result, 4));
  output.id = "explained-value";
  output.dataset.value = result;
  check.append(output, ".");
  explanation.appendChild(check);
}

// What layer k received: the previous layer's output, or the image itself for the first layer.
function layerInput(k) {
  if (k > 0) return state.outputs[k - 1];
  const image = tensor(SIZE, SIZE, 1);
  image.data.set(state.pixels);
  return image;
}

// The square of the input image that one pixel of layer k depends on, found by walking
// back through the layers: each 3x3 convolution widens it by 2 pixels, each 2x2 pooling
// doubles it. A pixel of conv_1 sees 3x3 pixels of the image, one of conv_2 sees 8x8.
function receptiveField(k, row, col) {
  let field = {row, col, rows: 1, cols: 1};
  for (let l = k; l >= 0; l--) {
    const layer = CNN.layers[l];
    if (layer.type === "Conv2D") {
      field.rows += layer.kernel.shape[0] - 1;
      field.cols += layer.kernel.shape[1] - 1;
    } else if (layer.type === "MaxPooling2D") {
      const size = layer.size;
      field = {row: field.row * size, col: field.col * size, rows: field.rows * size, cols: field.cols * size};
    }
  }
  return field;
}

function fixed(x, digits = 3) {
  const text = x.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;  // no "-0.000"
}

// A small table of numbers, coloured: values from 0..1 of `scale` pick the colour.
function numberGrid(values, rows, cols, className, colour) {
  const table = element("table", `grid ${className}`);
  for (let i = 0; i < rows; i++) {
    const tr = element("tr");
    for (let j = 0; j < cols; j++) {
      const td = element("td", null, fixed(values[i * cols + j]));
      if (colour) {
        const [r, g, b, light] = colour(values[i * cols + j]);
        td.style.background = `rgb(${r},${g},${b})`;
        td.style.color = light ? "#111" : "#fff";
      }
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  return table;
}

// Weights and products: red for positive, blue for negative, as in the filters figure.
function diverging(limit) {
  return x => {
    const step = Math.round((0.5 + 0.5 * Math.max(-1, Math.min(1, x / (limit || 1)))) * 255);
    const [r, g, b] = COLOURS.kernel.subarray(step * 3, step * 3 + 3);
    return [r, g, b, Math.abs(step - 128) < 90];
  };
}

// Pixels of the input as the layer sees them: grey for the image, the map colours for maps.
function sequential(limit, colours) {
  return x => {
    const step = Math.round(Math.min(1, Math.max(0, x / (limit || 1))) * 255);
    const [r, g, b] = colours.subarray(step * 3, step * 3 + 3);
    return [r, g, b, r + g + b > 380];
  };
}

function showConv(explanation, k, e, row, col) {
  const layer = CNN.layers[k];
  const input = layerInput(k);
  const source = k === 0 ? {name: "the image", type: "Input"} : CNN.layers[k - 1];
  // The first conv layer looks at the image itself (rescaled, in train.py's models): one grey channel.
  const onImage = source.type === "Input" || source.type === "Rescaling";
  const channels = e.parts.length;
  const windowText = `rows ${row}-${row + e.rows - 1}, columns ${col}-${col + e.cols - 1}`;
  const intro = element("p");
  if (channels === 1) {
    const scaled = source.type === "Rescaling"
      ? ` The ${source.name} layer has already multiplied the pixels by ${Number(source.scale.toPrecision(3))}: ` +
        `0..255 became ${fixed(source.offset, 0)}..${fixed(255 * source.scale + source.offset, 0)}.` : "";
    intro.textContent = `This pixel looks at the ${e.rows}x${e.cols} window at ${windowText} of ` +
      `${onImage ? "the input (boxed on the drawing)" : `${source.name}'s map`}.${scaled} ` +
      "Each pixel of the window is multiplied by the filter's weight at the same place; the products are summed.";
  } else {
    intro.textContent = `This pixel looks at a ${e.rows}x${e.cols} window, ${windowText}, of every one of the ` +
      `${channels} maps of ${source.name}, each through its own ${e.rows}x${e.cols} weights: ` +
      `${channels} x ${e.rows * e.cols} = ${channels * e.rows * e.cols} products. ` +
      `The ${Math.min(3, channels)} maps that contribute most (either sign):`;
  }
  explanation.appendChild(intro);

  const inputColours = onImage ? GREYS : COLOURS.response;
  const inputTop = onImage ? 255 * (source.scale || 1) + (source.offset || 0) : brightest(input);
  const shown = e.parts.slice(0, 3);
  for (const part of shown) {
    const block = element("div", "worked");
    if (channels > 1) {
      const caption = element("div", "channel");
      const holder = element("div", "mini");
      const mini = element("canvas");
      paint(mini, input.height, input.width, (r, c) => at(input, r, c, part.channel) / inputTop, inputColours);
      const box = element("div", "mark");
      holder.append(mini, box);
      mark(box, input.height, input.width, row, col, e.rows, e.cols);
      caption.append(holder, element("span", null, `${source.name} map ${part.channel}`));
      block.appendChild(caption);
    }
    const limit = Math.max(...part.kernel.map(Math.abs));
    const productLimit = Math.max(...part.products.map(Math.abs));
    block.append(
      titled("window", numberGrid(part.patch, e.rows, e.cols, "window", sequential(inputTop, inputColours))),
      element("span", "operator", "×"),
      titled("weights", numberGrid(part.kernel, e.rows, e.cols, "kernel", diverging(limit))),
      element("span", "operator", "="),
      titled("products", numberGrid(part.products, e.rows, e.cols, "products", diverging(productLimit))),
      element("span", "operator", "→"),
      titled(channels === 1 ? "sum" : "map's total", element("div", "total", fixed(part.total, 4))),
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
    line(`the other ${channels - shown.length} maps together`, fixed(rest, 4));
    line(`sum over all ${channels} maps`, fixed(e.sum, 4), "subtotal");
  } else {
    line(`sum of the ${e.rows * e.cols} products`, fixed(e.sum, 4), "subtotal");
  }
  line(`+ bias of filter ${state.selected.channel}`, fixed(e.bias, 4));
  line("= before the activation", fixed(e.beforeActivation, 4), "subtotal");
  if (layer.activation === "relu") {
    line(`ReLU: max(0, ${fixed(e.beforeActivation, 4)})`, fixed(e.value, 4), "result");
  } else {
    line("no activation", fixed(e.value, 4), "result");
  }
  explanation.appendChild(lines);
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
  const grid = numberGrid(values, layer.size, layer.size, "window", sequential(brightest(input), COLOURS.response));
  grid.querySelectorAll("td")[e.square.indexOf(e.survivor)].classList.add("survivor");
  const block = element("div", "worked");
  block.append(titled(`${source.name} map ${channel}`, grid), element("span", "operator", "→"),
               titled("largest", element("div", "total", fixed(e.value, 4))));
  explanation.appendChild(block);
  const note = element("p", "note", `The survivor: row ${e.survivor.row}, column ${e.survivor.col}.`);
  explanation.appendChild(note);
  return e.value;
}

function titled(title, content) {
  const box = element("figure", "titled");
  box.append(content, element("figcaption", null, title));
  return box;
}

function setUpInspector() {
  const zoom = document.getElementById("zoom");
  zoom.addEventListener("click", event => {
    if (!state.selected) return;
    const t = state.outputs[state.selected.layer];
    select(state.selected.layer, state.selected.channel, cellOf(event, zoom, t.height, t.width));
  });
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
  const redraws = 20;
  const start = performance.now();
  for (let k = 0; k < redraws; k++) update();
  result.updateMs = (performance.now() - start) / redraws;

  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const aim = strongestPixel(t);
    clickAt(document.querySelector(`.layer-card[data-layer="${k}"] .map[data-channel="${aim.channel}"]`), 0.5, 0.5);
    clickAt(document.getElementById("zoom"), (aim.row + 0.5) / t.height, (aim.col + 0.5) / t.width);
    const {channel, row, col} = state.selected;
    result.clicks.push({layer: CNN.layers[k].name, aim, channel, row, col, map: at(t, row, col, channel),
                        explained: Number(document.getElementById("explained-value").dataset.value)});
  }
  const pre = element("pre", null, JSON.stringify(result));
  pre.id = "selftest";
  document.body.appendChild(pre);
}

// The largest value of a layer's output: which map, and where in it.
function strongestPixel(t) {
  const strongest = argmax(t.data);
  const pixel = Math.floor(strongest / t.channels);
  return {channel: strongest % t.channels, row: Math.floor(pixel / t.width), col: pixel % t.width};
}

// A real click on an element, at a fraction of its height and width.
function clickAt(target, down, across) {
  const box = target.getBoundingClientRect();
  target.dispatchEvent(new MouseEvent("click", {
    bubbles: true, clientX: box.left + across * box.width, clientY: box.top + down * box.height,
  }));
}

// explorer.html#image=23&layer=conv_2&map=16&row=7&col=9 opens on that test image and pixel:
// a link a teacher can hand out. Without one: test image 0 and the strongest pixel of the first conv layer.
function openFromLink() {
  const link = new URLSearchParams(location.hash.slice(1));
  const number = (name, count, otherwise) => {
    const value = Number(link.get(name));
    return link.has(name) && Number.isInteger(value) && value >= 0 && value < count ? value : otherwise;
  };
  loadTestImage(number("image", DATA.images.count, 0));
  const named = MAP_LAYERS.find(k => CNN.layers[k].name === link.get("layer"));
  const k = named === undefined ? MAP_LAYERS[0] : named;
  const t = state.outputs[k];
  const strongest = strongestPixel(t);
  select(k, number("map", t.channels, strongest.channel),
         {row: number("row", t.height, strongest.row), col: number("col", t.width, strongest.col)});
}

// --- Start ---------------------------------------------------------------------------

buildHeader();
buildGallery();
buildLayerColumns();
buildBars();
buildLegend();
setUpDrawing();
setUpInspector();
for (let k = 0; k < 3; k++) forward(CNN, testImage(k));  // the JavaScript engine compiles the hot loops here
openFromLink();
document.getElementById("footer").textContent =
  `Weights from ${DATA.cnn.file} (${DATA.cnn.precision})` + (DNN ? ` and ${DNN.file} (${DNN.precision})` : "") +
  `; ${DATA.images.count} Fashion-MNIST test images. Everything runs in this page, offline.`;
for (const network of [CNN, DNN]) {
  if (network && network.precision !== "float32") {
    document.querySelector(".outputs-card").appendChild(element("p", "note",
      `Keras computes the ${network.name} with the ${network.precision} policy (16-bit arithmetic), this page ` +
      "in float32: their probabilities can differ in the third decimal."));
  }
}
if (location.hash === "#selftest") selfTest();
