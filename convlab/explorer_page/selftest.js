// explorer.html#selftest: the page checks itself, in a headless browser, for the tests to
// compare with Keras (benchmarks/chromium.py's self_test reads the results back).
//
// It runs both networks on every embedded test image and times the CNN and a whole redraw;
// on test image 0 it clicks the strongest pixel of each layer's maps (the small map, then the
// pixel in the enlarged one, as a reader would); and it drives the keyboard through three test
// images loaded one after another from the gallery: to conv_1's maps, the arrows to filter 9,
// Enter, an arrow on the enlarged map, Escape. Where the page holds epochs, it steps the epoch
// control from the first epoch to the last with its buttons, running both networks on every
// embedded test image at each epoch and timing each switch (the first visit to an epoch decodes
// its float16 weights; a second visit finds them decoded). It writes all of it as JSON into a
// "selftest" element at the page's end, with how long the page took to load.
"use strict";

function selfTest() {
  const result = {images: DATA.images.count, loadMs: window.explorerLoadMs, ...forwardEveryImage()};
  loadTestImage(0);
  result.updateMs = timeRedraws();
  result.clicks = clickEveryLayer();
  closeInspector(false);
  result.keyboard = driveKeyboard();
  if (EPOCHS.length > 1) result.epochs = stepThroughEpochs();
  const pre = element("pre", null, JSON.stringify(result));
  pre.id = "selftest";
  document.body.appendChild(pre);
}

function forwardEveryImage() {
  const found = {cnn: [], dnn: [], cnnClasses: [], dnnClasses: []};
  let elapsed = 0;
  for (let k = 0; k < DATA.images.count; k++) {
    const start = performance.now();
    const cnn = probabilities(forward(CNN, testImage(k)));
    elapsed += performance.now() - start;
    found.cnn.push(Array.from(cnn));
    found.cnnClasses.push(argmax(cnn));
    if (DNN) {
      const dnn = probabilities(forward(DNN, testImage(k)));
      found.dnn.push(Array.from(dnn));
      found.dnnClasses.push(argmax(dnn));
    }
  }
  found.forwardMs = elapsed / DATA.images.count;
  return found;
}

// A redraw as a learner sees it: both networks, every map, the flow, the dense half, and a
// pixel of the last conv layer explained in the panel.
function timeRedraws(redraws = 20) {
  const last = MAP_LAYERS.filter(k => CNN.layers[k].type === "Conv2D").pop();
  select(last, 0, strongestPixel(state.outputs[last], 0));
  const start = performance.now();
  for (let k = 0; k < redraws; k++) update();
  return (performance.now() - start) / redraws;
}

function clickEveryLayer() {
  const clicks = [];
  for (const k of MAP_LAYERS) {
    const t = state.outputs[k];
    const aim = strongestPixel(t);
    clickAt(mapButton(k, aim.channel), 0.5, 0.5);
    clickAt($("zoom"), (aim.row + 0.5) / t.height, (aim.col + 0.5) / t.width);
    const {channel, row, col} = state.selected;
    clicks.push({layer: CNN.layers[k].name, aim, channel, row, col, map: at(t, row, col, channel),
                 explained: Number($("explained-value").dataset.value)});
  }
  return clicks;
}

// A real click on an element, at a fraction of its height and width.
function clickAt(target, down, across) {
  const box = target.getBoundingClientRect();
  target.dispatchEvent(new MouseEvent("click", {
    bubbles: true, detail: 1, clientX: box.left + across * box.width, clientY: box.top + down * box.height,
  }));
}

// A key pressed on whatever has the focus, as the keyboard sends it there. A page cannot send
// itself a Tab that moves the focus, so Tab moves it here as the browser does: to the next
// element in the page's order that takes the focus (tab index 0, enabled, shown; of a group of
// radio buttons, the checked one).
function press(key) {
  if (key === "Tab") {
    const stops = Array.from(document.querySelectorAll("button, input, select, summary, [tabindex]")).filter(e =>
      e.tabIndex >= 0 && !e.disabled && e.getClientRects().length && !(e.type === "radio" && !e.checked));
    stops[stops.indexOf(document.activeElement) + 1].focus();
    return;
  }
  document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true}));
}

// For three test images, each the first of the class above the one before in the gallery:
// Tab from the gallery to conv_1's maps, the arrows to filter 9, and what Enter explains there,
// against the map as it is now.
function driveKeyboard() {
  const k = MAP_LAYERS[0];
  const found = [];
  for (let n = 0; n < 3; n++) {
    document.querySelector('.thumb[tabindex="0"]').focus();  // where Tab arrives in the gallery
    press("ArrowUp");
    press("Enter");
    const image = state.source;
    let tabs = 0;
    while (!document.activeElement.classList.contains("map")) { press("Tab"); tabs++; }
    press("Home");
    press("ArrowDown");
    const columns = Number(document.activeElement.dataset.channel);
    for (let c = columns; c < 9; c++) press("ArrowRight");
    for (let c = columns; c > 9; c--) press("ArrowLeft");
    press("Enter");
    const t = state.outputs[k];
    const explained = {...state.selected, image, tabs, focus: document.activeElement.id,
                       strongest: strongestPixel(t, state.selected.channel),
                       map: at(t, state.selected.row, state.selected.col, state.selected.channel),
                       explained: Number($("explained-value").dataset.value), title: $("inspector-title").textContent};
    press(explained.col + 1 < t.width ? "ArrowRight" : "ArrowLeft");
    explained.moved = {row: state.selected.row, col: state.selected.col};
    press("Escape");
    explained.closed = $("inspector").hidden;
    explained.focusAfter = document.activeElement.getAttribute("aria-label");
    found.push(explained);
  }
  return found;
}

// The epoch control's buttons, from the first epoch to the last and back again: at each epoch
// each network's probabilities for every embedded image, where that network is at an epoch not seen
// yet ({network: {epoch: probabilities}}), and the time each switch took, redraw included.
function stepThroughEpochs() {
  const found = {kept: EPOCHS, cnn: {}, dnn: {}, firstMs: [], againMs: []};
  showEpoch(EPOCHS[0]);  // straight there: the epochs between are still undecoded
  const collect = () => {
    for (const [name, network] of [["cnn", CNN], ["dnn", DNN]]) {
      if (!network || !network.epochs) continue;
      const epoch = network.epochs.kept[network.epoch];
      if (epoch in found[name]) continue;
      found[name][epoch] = Array.from({length: DATA.images.count}, (_, k) =>
        Array.from(probabilities(forward(network, testImage(k)))));
    }
  };
  collect();
  for (const times of [found.firstMs, found.againMs]) {
    const button = times === found.firstMs ? "epoch-next" : "epoch-back";
    while (!$(button).disabled) {
      const start = performance.now();
      $(button).click();
      times.push(performance.now() - start);
      collect();
    }
  }
  found.shownAtFirst = {epoch: state.epoch, value: $("epoch-value").textContent, slider: Number($("epoch").value)};
  showEpoch(EPOCHS[EPOCHS.length - 1]);
  return found;
}
