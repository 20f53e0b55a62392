// The explorer page: what the learner sees and does, around forward.js's arithmetic.
//
// This file builds the page from the embedded data, keeps its state (the input, the epoch, the
// pixel inspected, undo and redo, the address) and redraws everything on every change. The other
// scripts each draw one part: flow.js the network at a glance, dense.js the dense half,
// inspector.js one pixel's arithmetic, selftest.js the page's check against Keras. It loads
// last and starts the page once every function is defined.
"use strict";

// --- Limits, said once (the colours and sizes are style.css's :root) -----------------

const GALLERY_PER_CLASS = 5;   // the test images shown: the first five of each class
const LIST_PER_ROW = 6;        // a list of test images where one network beats the other: this many to a row (the
                               // narrowest column the gallery gets, at 1340 px, holds 7)
const EPOCH_EVERY_MS = 1000;   // the epoch control's play: one epoch a second
const UNDO_STEPS = 100;        // how far undo goes back
const DIGITS = 4;              // every number of the arithmetic, products and totals alike, to 4 decimals
const ADDRESS_EVERY_MS = 100;  // browsers ignore a page that rewrites its address more often than this
const CHANNELS_WORKED = 3;     // a conv pixel reading many maps: the maps worked out in full
const PUSHES_LISTED = 5;       // the units listed as pushing a logit up, and down
const SHEET_LEAST = 0.3;       // a sheet is never lower than this share of the screen

// --- The data Python embedded, and the page's state ----------------------------------

const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
const CLASSES = DATA.classes;
const CNN = unpackNetwork(DATA.cnn);
const DNN = unpackNetwork(DATA.dnn);
const IMAGES = bytes(DATA.images.pixels);
// Every embedded test image by its index in the test set: the first ones, and those the lists of
// where one network beats the other name (DATA.wins).
const EMBEDDED = new Map();
for (let k = 0; k < DATA.images.count; k++) EMBEDDED.set(k, {pixels: testImage(k), label: DATA.images.labels[k]});
const LISTS = DATA.wins ? DATA.wins.lists : [];
for (const list of LISTS) {
  const pixels = bytes(list.pixels);
  list.indices.forEach((index, n) => EMBEDDED.set(index, {pixels: pixels.subarray(n * SIZE * SIZE, (n + 1) * SIZE * SIZE),
                                                          label: list.labels[n]}));
}
// The epochs the control steps through: every epoch either network kept (the dnn may train
// longer than the CNN); each network shows the last of its own epochs up to the one chosen.
const NETWORKS = [CNN, DNN].filter(network => network);
const EPOCHS = Array.from(new Set(NETWORKS.flatMap(n => (n.epochs ? n.epochs.kept : [])))).sort((a, b) => a - b);
const GALLERY_HINT = document.getElementById("gallery-hint").textContent;  // page.html's, for the classes
const COLOURS = {response: bytes(DATA.colours.response), kernel: bytes(DATA.colours.kernel)};
const SELFTEST = location.hash === "#selftest";
// Every Conv2D and MaxPooling2D layer has feature maps: a card of them, and a place in the flow.
const MAP_LAYERS = CNN.layers.flatMap((layer, k) => (["Conv2D", "MaxPooling2D"].includes(layer.type) ? [k] : []));
// Each layer's output shape, from one pass over a blank image.
const SHAPES = forward(CNN, new Float32Array(SIZE * SIZE)).map(t => ({height: t.height, width: t.width,
                                                                      channels: t.channels}));

const state = {
  pixels: new Float32Array(SIZE * SIZE),  // the input: whole numbers 0..255, as in an image file
  source: null,     // the test image loaded into the canvas (its index in the test set), or null once drawn on
  offset: [0, 0],   // how far the test image was moved since: rows down, columns right
  epoch: EPOCHS.length ? EPOCHS[EPOCHS.length - 1] : null,  // the epoch both networks are at: the last at first
  list: "classes",  // the test images the gallery shows: "classes", or a list's winner ("cnn", "dnn")
  selected: null,   // {layer: index into CNN.layers, channel, row, col}: the pixel inspected; none at first
  outputs: null,    // the CNN's outputs for the current input, layer by layer
  dnnOutputs: null,
  scale: "map",     // the maps' colour scale: "map", "layer" or "network" (the default: see page.html)
  which: "cnn",     // the network the dense half explains
  denseClass: null, // the class whose logit is taken apart (null: the top class)
  undo: [],         // earlier inputs, for undo: {pixels, source, offset}
  redo: [],
  slide: null,      // the sliding window while it plays (inspector.js)
};

const $ = id => document.getElementById(id);
const css = name => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const wide = () => css("--layout") === "wide";  // style.css decides where the layout changes

// "#2a3340" -> [42, 51, 64]
function rgb(colour) {
  const hex = colour.replace("#", "");
  return [0, 2, 4].map(k => parseInt(hex.slice(k, k + 2), 16));
}

const BLANK = rgb(css("--blank"));  // a map's pixels not computed yet (the sliding window)
const INK = {light: css("--ink-on-light"), dark: css("--ink-on-dark")};  // numbers on light and dark cells

function testImage(k) {
  return IMAGES.subarray(k * SIZE * SIZE, (k + 1) * SIZE * SIZE);
}

function fixed(x, digits = DIGITS) {
  const text = x.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;  // no "-0.0000"
}

function thousands(n) {
  return n.toLocaleString("en-US");
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- Painting maps with the figures' colours ------------------------------------------

// A canvas's picture, height x width, kept with it and painted over on every redraw.
const PICTURES = new WeakMap();
function pictureOf(canvas, height, width) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  let found = PICTURES.get(canvas);
  if (!found || found.width !== width || found.height !== height) {
    found = canvas.getContext("2d").createImageData(width, height);
    PICTURES.set(canvas, found);
  }
  return found;
}

// Paint a canvas one cell per pixel; value(row, col) -> 0..1 picks the colour, null paints it blank.
function paint(canvas, height, width, value, colours) {
  const context = canvas.getContext("2d");
  const picture = pictureOf(canvas, height, width);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const v = value(row, col);
      const k = (row * width + col) * 4;
      const step = v === null ? -1 : Math.round(Math.min(1, Math.max(0, v)) * 255);  // colourOf, inlined: the hot loop
      for (let c = 0; c < 3; c++) picture.data[k + c] = step < 0 ? BLANK[c] : colours[step * 3 + c];
      picture.data[k + 3] = 255;
    }
  }
  context.putImageData(picture, 0, 0);
}

const GREYS = new Uint8Array(256 * 3).map((v, k) => Math.floor(k / 3));

// The colour of a colour table (256 RGB steps) for v in 0..1 (clipped).
function colourOf(colours, v) {
  const step = Math.round(Math.min(1, Math.max(0, v)) * 255);
  return colours.subarray(step * 3, step * 3 + 3);
}

function paintImage(canvas, pixels) {
  paint(canvas, SIZE, SIZE, (row, col) => pixels[row * SIZE + col] / 255, GREYS);
}

// One map, black at 0 and brightest at `top`: paint()'s colours, in a loop of its own because a
// redraw paints every map of every layer.
function paintMap(canvas, t, channel, top) {
  const cells = pictureOf(canvas, t.height, t.width).data, colours = COLOURS.response;
  for (let pixel = 0, k = channel; k < t.data.length; pixel += 4, k += t.channels) {
    const step = Math.round(Math.min(1, Math.max(0, t.data[k] / (top || 1))) * 255) * 3;
    cells[pixel] = colours[step];
    cells[pixel + 1] = colours[step + 1];
    cells[pixel + 2] = colours[step + 2];
    cells[pixel + 3] = 255;
  }
  canvas.getContext("2d").putImageData(PICTURES.get(canvas), 0, 0);
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

// Arrow keys, Home and End in a group of buttons with one tab stop: the index they move to.
function moved(key, here, count, perRow) {
  const steps = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -perRow, ArrowDown: perRow, Home: -Infinity, End: Infinity};
  return key in steps ? Math.min(count - 1, Math.max(0, here + steps[key])) : null;
}

function rove(buttons, chosen) {
  for (const button of buttons) button.tabIndex = button === chosen ? 0 : -1;
}

// --- The header, the footer, the test images, the probabilities ------------------------

function describe(network) {
  return network.layers.filter(l => l.type !== "Flatten").map(l => l.name).join(" → ");
}

function buildHeader() {
  const lines = [`CNN: ${CNN.name}, ${CNN.file}: ${describe(CNN)}`];
  lines.push(DNN ? `DNN: ${DNN.name}, ${DNN.file}: ${describe(DNN)}`
                 : `DNN: none beside the CNN (python train.py --models dnn saves ${DATA.dnnExpected})`);
  const folded = CNN.layers.filter(l => l.folded && l.folded.length);
  if (folded.length) {
    lines.push("Folded for the page, as Keras computes them at inference: " +
      folded.map(l => `${l.folded.join(" and ")} into ${l.name}`).join("; ") +
      ". Dropout and random augmentation act only while training and are left out.");
  }
  for (const line of lines) $("models").appendChild(element("span", null, line));
  const held = NETWORKS.filter(n => n.epochs).map(n => `${n.epochs.file} (${heldEpochs(n)} in float16)`);
  $("footer").textContent =
    `Weights from ${CNN.file} (${CNN.precision})` + (DNN ? ` and ${DNN.file} (${DNN.precision})` : "") +
    (held.length ? `, earlier epochs from ${held.join(" and ")}` : "") +
    `; ${DATA.images.count} Fashion-MNIST test images` +
    (LISTS.length ? ` and the ${LISTS.map(l => l.indices.length).join(" + ")} the lists name` : "") +
    ". Everything runs in this page, offline.";
  for (const network of [CNN, DNN]) {
    if (network && network.precision !== "float32") {
      document.querySelector(".outputs-card").appendChild(element("p", "note",
        `Keras computes the ${network.name} with the ${network.precision} policy (16-bit arithmetic), this page ` +
        "in float32: their probabilities can differ in the third decimal."));
    }
  }
}

// The gallery: the first test images of each class, one row per class; or, with a dnn beside the
// CNN, one of the two lists of test images where one network is right and the other wrong.
function buildGallery() {
  const gallery = $("gallery");
  gallery.textContent = "";
  const list = LISTS.find(l => l.winner === state.list);
  gallery.classList.toggle("listed", Boolean(list));
  gallery.style.setProperty("--per-row", LIST_PER_ROW);
  if (list) buildList(gallery, list);
  else buildClasses(gallery);
  const first = gallery.querySelector(".thumb");
  if (first) first.tabIndex = 0;
  showChosenThumb();
}

function thumbFor(k, label) {
  const thumb = element("button", "thumb");
  thumb.type = "button";
  thumb.dataset.image = k;
  thumb.setAttribute("aria-label", label);
  thumb.title = label;
  const canvas = element("canvas");
  paintImage(canvas, EMBEDDED.get(k).pixels);
  thumb.appendChild(canvas);
  thumb.tabIndex = -1;
  thumb.addEventListener("click", () => chooseTestImage(k));
  return thumb;
}

function buildClasses(gallery) {
  CLASSES.forEach((name, label) => {
    const group = element("div", "class-group");
    const thumbs = element("div", "thumbs");
    for (let k = 0, shown = 0; k < DATA.images.count && shown < GALLERY_PER_CLASS; k++) {
      if (DATA.images.labels[k] !== label) continue;
      thumbs.appendChild(thumbFor(k, `test image ${k}: ${name}`));
      shown++;
    }
    group.append(element("span", null, name), thumbs);
    gallery.appendChild(group);
  });
}

// A list's images, clearest first, LIST_PER_ROW to a row: each names its class and the other network's answer.
function buildList(gallery, list) {
  const [winner, loser] = [list.winner.toUpperCase(), list.loser.toUpperCase()];
  list.indices.forEach((k, n) => gallery.appendChild(thumbFor(k, `test image ${k}: ${CLASSES[list.labels[n]]}; ` +
    `the ${winner} is right, the ${loser} says ${CLASSES[list.loserSays[n]]}`)));
}

// The choice between the classes and the two lists (shown only with a dnn beside the CNN), and what a
// list is. The lists are the trained models' (the last epoch): they stay the same at every epoch.
function setUpLists() {
  if (!LISTS.length) return;
  $("lists").hidden = false;
  for (const list of LISTS) {
    const label = element("label");
    const radio = element("input");
    radio.type = "radio";
    radio.name = "list";
    radio.value = list.winner;
    label.append(radio, ` ${list.winner.toUpperCase()} right, ${list.loser.toUpperCase()} wrong ` +
                 `(${thousands(list.total)})`);
    $("lists").appendChild(label);
  }
  for (const radio of document.querySelectorAll('input[name="list"]')) {
    radio.addEventListener("change", () => showList(radio.value));
  }
}

function showList(which) {
  state.list = LISTS.some(l => l.winner === which) ? which : "classes";
  for (const radio of document.querySelectorAll('input[name="list"]')) radio.checked = radio.value === state.list;
  buildGallery();
  const list = LISTS.find(l => l.winner === state.list);
  $("list-note").hidden = !list;
  $("gallery-hint").textContent = list ? "the clearest first" : GALLERY_HINT;
  if (list) {
    const [winner, loser] = [list.winner.toUpperCase(), list.loser.toUpperCase()];
    $("list-note").textContent = `The ${winner} gets ${thousands(list.total)} of the ${thousands(DATA.wins.compared)} ` +
      `test images right that the ${loser} gets wrong (the trained models, at their last epoch). Here the ` +
      `${list.indices.length} clearest: the ${winner} gives the true class the most probability more than the ` +
      `${loser} does. Move one a pixel with the arrows under the canvas: the DNN, which reads every pixel at its ` +
      "place, changes its mind more easily than the CNN.";
  }
  writeAddress();
}

// One tab stop for all the test images: left and right step through them, up and down by class
// (or by row of a list), Enter (or Space) loads one.
function setUpGalleryKeys(gallery) {
  gallery.setAttribute("role", "group");
  gallery.setAttribute("aria-label", "Test images: arrow keys move between them, Enter loads one");
  gallery.addEventListener("keydown", event => {
    const all = Array.from(gallery.querySelectorAll(".thumb"));
    const here = all.indexOf(event.target);
    if (here < 0) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      chooseTestImage(Number(event.target.dataset.image));
      return;
    }
    const next = moved(event.key, here, all.length, state.list === "classes" ? GALLERY_PER_CLASS : LIST_PER_ROW);
    if (next === null) return;
    event.preventDefault();
    rove(all, all[next]);
    all[next].focus();
  });
}

function chooseTestImage(k) {
  if (state.source === k && !state.offset[0] && !state.offset[1]) return;  // already there, unedited: nothing to undo
  remember();
  loadTestImage(k);
}

function loadTestImage(k, offset = [0, 0]) {
  state.pixels.set(shiftedPixels(EMBEDDED.get(k).pixels, ...offset));
  state.source = k;
  state.offset = offset;
  update();
}

// "test image 12 moved 1 pixel right, true class: Shirt"
function sourceText() {
  if (state.source === null) return "your drawing";
  const [down, right] = state.offset;
  const steps = [[down, "down", "up"], [right, "right", "left"]].filter(([n]) => n)
    .map(([n, plus, minus]) => `${Math.abs(n)} pixel${Math.abs(n) === 1 ? "" : "s"} ${n > 0 ? plus : minus}`);
  return `test image ${state.source}${steps.length ? ` moved ${steps.join(" and ")}` : ""}, ` +
    `true class: ${CLASSES[EMBEDDED.get(state.source).label]}`;
}

// --- Moving the drawing by one pixel: the border it leaves is black, as comparison.shifted does ----

const DIRECTIONS = {up: [-1, 0], down: [1, 0], left: [0, -1], right: [0, 1]};

// The pixels moved `down` rows and `right` columns; what moves past the edge is gone, what is uncovered is 0.
function shiftedPixels(pixels, down, right) {
  const out = new Float32Array(SIZE * SIZE);
  for (let row = Math.max(0, down); row < Math.min(SIZE, SIZE + down); row++) {
    for (let col = Math.max(0, right); col < Math.min(SIZE, SIZE + right); col++) {
      out[row * SIZE + col] = pixels[(row - down) * SIZE + col - right];
    }
  }
  return out;
}

// One move, one step of undo. A test image moved stays that test image, moved, while it is still the
// image moved as a whole; ink pushed over the edge and brought back is gone, and it becomes a drawing.
function moveDrawing(direction) {
  const [down, right] = DIRECTIONS[direction];
  remember();
  state.pixels.set(shiftedPixels(Float32Array.from(state.pixels), down, right));
  if (state.source !== null) {
    const offset = [state.offset[0] + down, state.offset[1] + right];
    const whole = shiftedPixels(EMBEDDED.get(state.source).pixels, ...offset);
    if (whole.every((v, k) => v === state.pixels[k])) state.offset = offset;
    else [state.source, state.offset] = [null, [0, 0]];
  }
  update();
}

// The four buttons are one tab stop; with one focused, the arrow keys move the drawing (and the focus
// to that direction's button). Elsewhere the arrows keep their own jobs: the pen on the canvas, the maps.
function setUpMoves() {
  const group = $("move"), buttons = Array.from(group.querySelectorAll("button"));
  const keys = {ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right"};
  rove(buttons, buttons[0]);
  for (const button of buttons) button.addEventListener("click", () => moveDrawing(button.dataset.direction));
  group.addEventListener("keydown", event => {
    if (!(event.key in keys) || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    const button = buttons.find(b => b.dataset.direction === keys[event.key]);
    rove(buttons, button);
    button.focus();
    moveDrawing(keys[event.key]);
  });
}

// One row per class: its name, then each network's bar with its percentage beside it.
function buildBars() {
  const networks = DNN ? ["cnn", "dnn"] : ["cnn"];  // no column for a network that is not there
  const table = $("bars");
  const head = element("thead");
  const headRow = element("tr");
  headRow.append(element("th", null, "class"), ...networks.map(which => element("th", null, which.toUpperCase())));
  for (const th of headRow.children) th.scope = "col";
  head.appendChild(headRow);
  const body = element("tbody");
  CLASSES.forEach((name, k) => {
    const row = element("tr");
    row.dataset.class = k;
    const th = element("th", null, name);
    th.scope = "row";
    row.appendChild(th);
    for (const which of networks) {
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

function nothingDrawn() {
  return state.pixels.every(v => v === 0);
}

function showProbabilities() {
  const answers = {cnn: probabilities(state.outputs), dnn: state.dnnOutputs && probabilities(state.dnnOutputs)};
  const empty = nothingDrawn();
  for (const row of document.querySelectorAll("#bars tr[data-class]")) {
    const k = Number(row.dataset.class);
    for (const cell of row.querySelectorAll(".bar")) {
      const values = answers[cell.classList.contains("cnn") ? "cnn" : "dnn"];
      cell.querySelector(".fill").style.width = `${100 * values[k]}%`;
      cell.querySelector(".value").textContent = `${(100 * values[k]).toFixed(1)}%`;
      cell.classList.toggle("top", !empty && argmax(values) === k);
    }
    row.classList.toggle("truth", state.source !== null && EMBEDDED.get(state.source).label === k);
  }
  const verdict = $("verdict");
  verdict.classList.toggle("empty", empty);
  verdict.classList.remove("disagree");
  if (empty) {
    verdict.textContent = "Nothing drawn: these are the biases. With every pixel 0, each filter's multiply-sum " +
      "is 0 and only its bias is left, so these probabilities say nothing about a garment: no verdict.";
    return;
  }
  const cnnSays = CLASSES[argmax(answers.cnn)];
  verdict.textContent = `CNN: ${cnnSays}`;
  if (answers.dnn) {
    const dnnSays = CLASSES[argmax(answers.dnn)];
    verdict.textContent += dnnSays === cnnSays ? " · DNN agrees" : ` · DNN: ${dnnSays}`;
    verdict.classList.toggle("disagree", dnnSays !== cnnSays);
  }
}

// --- The feature maps: a card per layer, a row per block --------------------------------

function verb(layer) {
  if (layer.type !== "Conv2D") return `${layer.size}x${layer.size} max pooling`;
  const [rows, cols] = layer.kernel.shape;
  return `${rows}x${cols} filters${layer.padding === "same" ? ", same padding" : ""}` +
    `${layer.activation === "relu" ? ", ReLU" : ""}`;
}

// A row per block (the Conv2D layers and the pooling after them), side by side where the width allows.
function buildLayerCards() {
  let block = null;
  for (const k of MAP_LAYERS) {
    if (!block || CNN.layers[k - 1].type === "MaxPooling2D") {
      block = element("div", "block");
      $("network").appendChild(block);
    }
    block.appendChild(layerCard(k));
  }
  new ResizeObserver(sizeMapGrids).observe($("network"));
}

function layerCard(k) {
  const layer = CNN.layers[k], shape = SHAPES[k];
  const card = element("section", "layer-card");
  card.dataset.layer = k;
  const heading = element("h3", null, layer.name);
  heading.id = `layer-${k}`;
  heading.appendChild(element("span", "hint", verb(layer)));
  card.setAttribute("aria-labelledby", heading.id);
  card.appendChild(heading);
  if (layer.folded && layer.folded.length) {
    card.appendChild(element("p", "shape", `with ${layer.folded.join(" and ")} folded in`));
  }
  const kind = layer.type === "Conv2D" ? "filters" : "maps";
  card.appendChild(element("p", "shape", `${shape.channels} ${kind}, each ${shape.height}x${shape.width}`));
  card.appendChild(mapGrid(k));
  return card;
}

// The maps of layer k as buttons, one tab stop for the layer: the arrow keys move between
// them, Enter (or Space) shows the arithmetic of the map's strongest pixel.
function mapGrid(k) {
  const layer = CNN.layers[k], channels = SHAPES[k].channels;
  const what = layer.type === "Conv2D" ? "filter" : "map";
  const grid = element("div", "maps");
  grid.dataset.layer = k;
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-label", `${layer.name}: ${channels} maps. Arrow keys move between them, Enter shows ` +
                    "the arithmetic of the map's strongest pixel");
  for (let channel = 0; channel < channels; channel++) grid.appendChild(mapButtonFor(k, channel, what));
  grid.addEventListener("keydown", event => {
    const button = event.target.closest(".map");
    if (!button) return;
    const channel = Number(button.dataset.channel);
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      // The strongest pixel of the map as it is now, for the input as it is now.
      select(k, channel, strongestPixel(state.outputs[k], channel), button);
      $("zoom").focus({preventScroll: true});  // where the arrow keys move the pixel (Escape comes back)
      return;
    }
    const next = moved(event.key, channel, channels, Number(grid.style.getPropertyValue("--columns")));
    if (next === null) return;
    event.preventDefault();
    focusMap(k, next);
  });
  return grid;
}

// One map of layer k: a button whose canvas is the map. A pointer picks the pixel under it; a key's
// click (detail 0) is left to the grid's keydown, which picks the strongest pixel.
function mapButtonFor(k, channel, what) {
  const button = element("button", "map");
  button.type = "button";
  button.dataset.channel = channel;
  button.tabIndex = channel === 0 ? 0 : -1;
  button.setAttribute("aria-pressed", "false");
  button.setAttribute("aria-label", `${CNN.layers[k].name} ${what} ${channel}`);
  button.appendChild(element("canvas"));
  button.addEventListener("click", event => {
    if (event.detail === 0) return;
    const t = state.outputs[k];
    select(k, channel, cellOf(event, button.firstChild, t.height, t.width), button);
  });
  return button;
}

// As many maps to a row as fit at the least size (style.css's --min-cell), spread over as few
// rows as that allows, evenly, and as large as the width then makes them.
function sizeMapGrids() {
  const least = parseFloat(css("--min-cell")), most = parseFloat(css("--max-cell"));
  for (const grid of document.querySelectorAll(".maps")) {
    const width = grid.clientWidth, count = grid.children.length, gap = parseFloat(getComputedStyle(grid).columnGap);
    const fit = Math.max(1, Math.floor((width + gap) / (least + gap)));
    const columns = Math.ceil(count / Math.ceil(count / fit));
    const cell = Math.min(most, Math.floor((width - gap * (columns - 1)) / columns));
    grid.style.setProperty("--columns", columns);
    grid.style.setProperty("--cell", `${cell}px`);
  }
}

function mapButton(k, channel) {
  return document.querySelector(`.maps[data-layer="${k}"] .map[data-channel="${channel}"]`);
}

// Roving focus: the map that has the layer's one tab stop.
function focusMap(k, channel, options) {
  const button = mapButton(k, channel);
  rove(button.parentNode.children, button);
  button.focus(options);
}

// The value that gets the brightest colour for map `channel` of layer k, under the chosen scale.
function scaleTop(k, channel, tops) {
  if (state.scale === "map") return mapTop(state.outputs[k], channel);
  return state.scale === "layer" ? tops.layer[k] : tops.network;
}

function paintMaps() {
  const tops = {layer: {}};
  for (const k of MAP_LAYERS) tops.layer[k] = brightest(state.outputs[k]);
  tops.network = Math.max(...Object.values(tops.layer));
  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const buttons = document.querySelector(`.maps[data-layer="${k}"]`).children;
    for (let channel = 0; channel < t.channels; channel++) {
      const top = mapTop(t, channel);
      paintMap(buttons[channel].firstChild, t, channel, state.scale === "map" ? top : scaleTop(k, channel, tops));
      buttons[channel].title = `${CNN.layers[k].name}, map ${channel}: largest value ${fixed(top)}`;
    }
  }
  const text = {
    map: "0 (black) to each map's own largest value",
    layer: "0 (black) to the largest value of the map's layer",
    network: `0 (black) to ${fixed(tops.network, 2)}, the largest value of any map`,
  };
  $("legend-text").textContent = text[state.scale];
}

function buildLegends() {
  paint($("legend-response"), 1, 256, (row, col) => col / 255, COLOURS.response);
  paint($("legend-zoom"), 1, 256, (row, col) => col / 255, COLOURS.response);
}

function setUpScale() {
  for (const radio of document.querySelectorAll('input[name="scale"]')) {
    radio.addEventListener("change", () => {
      state.scale = radio.value;
      paintMaps();
      writeAddress();
    });
  }
}

// --- Drawing on the canvas, with undo and redo ---------------------------------------

// A round brush with soft edges: full ink within `radius` of the pointer, fading over one pixel.
// Pixels stay whole numbers, as in an image file (and in the address: see drawingCode).
function brushAt(x, y) {
  const radius = Number($("brush").value);
  const erase = $("erase").checked;
  for (let row = Math.floor(y - radius - 1); row <= y + radius + 1; row++) {
    for (let col = Math.floor(x - radius - 1); col <= x + radius + 1; col++) {
      if (row < 0 || col < 0 || row >= SIZE || col >= SIZE) continue;
      const distance = Math.hypot(row + 0.5 - y, col + 0.5 - x);
      const ink = Math.round(255 * Math.min(1, Math.max(0, radius + 0.5 - distance)));
      const k = row * SIZE + col;
      state.pixels[k] = erase ? Math.min(state.pixels[k], 255 - ink) : Math.max(state.pixels[k], ink);
    }
  }
}

// Keep the input as it is now, before a stroke, a clear, an invert or a new test image changes it.
function remember() {
  state.undo.push({pixels: Float32Array.from(state.pixels), source: state.source, offset: state.offset});
  if (state.undo.length > UNDO_STEPS) state.undo.shift();
  state.redo = [];
  undoButtons();
}

function restore(from, to) {
  if (!from.length) return;
  to.push({pixels: Float32Array.from(state.pixels), source: state.source, offset: state.offset});
  const earlier = from.pop();
  state.pixels.set(earlier.pixels);
  state.source = earlier.source;
  state.offset = earlier.offset;
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
  setUpPointer($("drawing"));
  setUpPen($("drawing"));
  $("clear").addEventListener("click", () => changeAll(() => 0));
  $("invert").addEventListener("click", () => changeAll(v => 255 - v));
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

// Clear or invert: every pixel changed at once, one step of undo, one redraw.
function changeAll(change) {
  remember();
  for (let k = 0; k < state.pixels.length; k++) state.pixels[k] = change(state.pixels[k]);
  state.source = null;
  update();
}

// The mouse, a finger or a pen alike: pointer events. A stroke is one step of undo.
function setUpPointer(canvas) {
  let last = null;
  const position = event => {
    const box = canvas.getBoundingClientRect();
    return {x: ((event.clientX - box.left) / box.width) * SIZE, y: ((event.clientY - box.top) / box.height) * SIZE};
  };
  canvas.addEventListener("pointerdown", event => {
    canvas.setPointerCapture(event.pointerId);
    $("pen").hidden = true;  // the keyboard's pen is no part of a pointer's stroke
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
}

// From the keyboard: a pen (the orange box, shown only when the canvas has the keyboard's
// focus) that the arrow keys move. Space inks where it is, one step of undo; Shift with the
// arrows inks as it goes, one line, one step of undo until Shift is let go.
function setUpPen(canvas) {
  const pen = {row: SIZE / 2, col: SIZE / 2, line: false};
  const showPen = () => mark($("pen"), SIZE, SIZE, pen.row, pen.col);
  canvas.addEventListener("focus", () => { if (canvas.matches(":focus-visible")) showPen(); });
  canvas.addEventListener("blur", () => { $("pen").hidden = true; pen.line = false; });
  canvas.addEventListener("keyup", event => { if (event.key === "Shift") pen.line = false; });
  canvas.addEventListener("keydown", event => {
    const steps = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
    if (!(event.key in steps) && event.key !== " ") return;
    event.preventDefault();
    if (event.key in steps) {
      pen.row = Math.min(SIZE - 1, Math.max(0, pen.row + steps[event.key][0]));
      pen.col = Math.min(SIZE - 1, Math.max(0, pen.col + steps[event.key][1]));
      showPen();
    }
    const inks = event.key === " " || event.shiftKey;
    if (!inks) return;
    if (event.key === " " || !pen.line) remember();
    pen.line = event.key !== " ";
    brushAt(pen.col + 0.5, pen.row + 0.5);
    state.source = null;
    update();
  });
}

function edited() {
  state.source = null;
  scheduleUpdate();
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

  paintImage($("drawing"), state.pixels);
  $("source").textContent = sourceText();
  showChosenThumb();
  paintMaps();
  showProbabilities();
  showFlow();
  showDense();
  if (state.selected) showSelection();
  $("timing").textContent = `The CNN's forward pass took ${(computed - start).toFixed(1)} ms in this page.`;
  writeAddress();
}

function showChosenThumb() {
  const thumbs = Array.from(document.querySelectorAll(".thumb"));
  const chosen = thumbs.find(thumb => Number(thumb.dataset.image) === state.source);
  for (const thumb of thumbs) thumb.classList.toggle("chosen", thumb === chosen);
  if (chosen) rove(thumbs, chosen);  // the gallery's tab stop follows the image shown
}

// --- The address follows the view ----------------------------------------------------

// explorer.html#image=23&layer=conv_2&map=16&row=7&col=9&scale=layer&epoch=2 opens on that test image,
// pixel, colour scale and epoch: a link a teacher can hand out, kept up to date as the learner clicks.
// A drawing travels in it too (drawing=...), so a reload or a shared link shows the same input; so do
// a test image moved (move=ROWS,COLUMNS) and the list of test images shown (list=cnn or list=dnn).
let written = "", landed = null, addressTimer = null, lastAddressWrite = -Infinity;
function writeAddress() {
  if (SELFTEST || opening) return;
  const link = new URLSearchParams();
  if (state.source !== null) link.set("image", state.source);
  else if (!nothingDrawn()) link.set("drawing", drawingCode(state.pixels));
  if (state.source !== null && (state.offset[0] || state.offset[1])) link.set("move", state.offset.join(","));
  if (state.selected) {
    const {layer, channel, row, col} = state.selected;
    link.set("layer", CNN.layers[layer].name);
    link.set("map", channel);
    link.set("row", row);
    link.set("col", col);
  }
  link.set("scale", state.scale);
  if (EPOCHS.length > 1) link.set("epoch", state.epoch);
  if (state.list !== "classes") link.set("list", state.list);
  written = `#${link}`.replace(/%2C/g, ",");  // URLSearchParams writes move=0,1's comma as %2C; an address needs not
  // At most one rewrite every ADDRESS_EVERY_MS (a held arrow key, the fast sliding window),
  // and the last one always lands.
  clearTimeout(addressTimer);
  const wait = lastAddressWrite + ADDRESS_EVERY_MS - performance.now();
  if (wait > 0) {
    addressTimer = setTimeout(writeAddress, wait);
    return;
  }
  // An address changed from outside since the last write (a link pasted, the back button) is for the
  // hashchange handler to open: a write still pending from the view before must not overwrite it.
  if (landed !== null && location.hash !== landed && location.hash !== written) return;
  lastAddressWrite = performance.now();
  if (location.hash !== written) history.replaceState(null, "", written);
  landed = written;
}

// A drawing in a few hundred letters: its 784 pixels (whole numbers 0..255), each run of 0s as
// a 0 and the run's length, in base64 that an address carries as it is (- and _ for + and /).
function drawingCode(pixels) {
  const out = [];
  for (let k = 0; k < pixels.length; k++) {
    if (pixels[k] !== 0) { out.push(pixels[k]); continue; }
    let run = 1;
    while (k + 1 < pixels.length && pixels[k + 1] === 0 && run < 255) { run++; k++; }
    out.push(0, run);
  }
  return btoa(String.fromCharCode(...out)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The pixels of a drawing's code, or null for one that is not a whole 28x28 drawing.
function drawingFromCode(code) {
  let text;
  try {
    text = atob(code.replace(/-/g, "+").replace(/_/g, "/"));
  } catch (error) {
    return null;
  }
  const pixels = [];
  for (let k = 0; k < text.length; k++) {
    const value = text.charCodeAt(k);
    if (value !== 0) pixels.push(value);
    else pixels.push(...new Array(text.charCodeAt(++k) || 0).fill(0));
  }
  return pixels.length === SIZE * SIZE ? Float32Array.from(pixels) : null;
}

// Open the view the address names. The address is written once, at the end: written halfway, a
// reload or a copy in between would get half the view (the image without its pixel).
let opening = false;
function openFromLink() {
  landed = location.hash;
  opening = true;
  try {
    showLink(new URLSearchParams(location.hash.slice(1)));
  } finally {
    opening = false;
  }
  writeAddress();
}

function showLink(link) {
  const number = (name, count, otherwise) => {
    const value = Number(link.get(name));
    return link.has(name) && Number.isInteger(value) && value >= 0 && value < count ? value : otherwise;
  };
  if (["map", "layer", "network"].includes(link.get("scale"))) state.scale = link.get("scale");
  for (const radio of document.querySelectorAll('input[name="scale"]')) radio.checked = radio.value === state.scale;
  if (EPOCHS.length > 1) {
    const epoch = Number(link.get("epoch"));
    useEpochs(link.has("epoch") && EPOCHS.includes(epoch) ? epoch : EPOCHS[EPOCHS.length - 1]);
  }
  if ((link.get("list") || "classes") !== state.list) showList(link.get("list"));
  const drawing = link.has("drawing") ? drawingFromCode(link.get("drawing")) : null;
  const image = Number(link.get("image"));
  const move = (link.get("move") || "").split(",").map(Number);
  const offset = move.length === 2 && move.every(n => Number.isInteger(n) && Math.abs(n) < SIZE) ? move : [0, 0];
  if (drawing) {
    state.pixels.set(drawing);
    state.source = null;
    update();
  } else {
    loadTestImage(link.has("image") && EMBEDDED.has(image) ? image : 0, offset);
  }
  $("source").textContent += link.has("drawing") && !drawing ? " (the drawing in this link could not be read)" : "";
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

// --- Start ---------------------------------------------------------------------------

buildHeader();
setUpLists();
buildGallery();
setUpGalleryKeys($("gallery"));
buildBars();
buildEpochs();
buildFlow();
buildLayerCards();
buildLegends();
sizeMapGrids();
setUpScale();
setUpDrawing();
setUpMoves();
setUpDense();
setUpInspector();
for (let k = 0; k < 3; k++) forward(CNN, testImage(k));  // the JavaScript engine compiles the hot loops here
openFromLink();
window.addEventListener("hashchange", () => { if (location.hash !== written && !SELFTEST) openFromLink(); });
window.explorerLoadMs = performance.now();  // since the page was asked for: reading, parsing, the first redraw
if (SELFTEST) selfTest();
window.explorerReady = true;
