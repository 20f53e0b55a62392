// The epoch control: both networks at any epoch train.py kept, from as built (epoch 0: random
// weights) to the saved model, with a strip of each network's validation accuracy per epoch.
//
// forward.js's useEpoch swaps a network's weights; everything else (the predictions, every map,
// the network at a glance, the dense half, the arithmetic) follows from update(), which reads
// the weights as they are. The dnn may train longer than the CNN: the control steps through every
// epoch either kept, and a network past its last stays there, which the control says.
"use strict";

let epochTimer = null;  // the play button's timer while it plays

// "CNN" or "DNN", as the predictions' columns name them (cnn_plus is the CNN too).
function role(network) {
  return network === CNN ? "CNN" : "DNN";
}

// A network's kept epoch number (its row) for the control's `epoch`: its last epoch up to it, or its first.
function rowFor(network, epoch) {
  const kept = network.epochs.kept;
  let row = 0;
  for (let r = 0; r < kept.length; r++) if (kept[r] <= epoch) row = r;
  return row;
}

// "epochs 0-4": those a network holds in float16 (all but its last).
function heldEpochs(network) {
  const kept = network.epochs.kept;
  return kept.length === 2 ? `epoch ${kept[0]}` : `epochs ${kept[0]}-${kept[kept.length - 2]}`;
}

function buildEpochs() {
  const missing = NETWORKS.filter(n => !n.epochs).map(n => `${role(n)}: ${n.noEpochs}`);
  if (EPOCHS.length < 2) {
    $("epoch-hint").textContent = "only the trained weights";
    $("epoch-note").textContent = missing.join(" ");
    return;
  }
  const held = NETWORKS.filter(n => n.epochs);
  const whose = held.length < NETWORKS.length ? `the ${role(held[0])} only` : DNN ? "both networks" : "the CNN";
  $("epoch-hint").textContent = `${whose}, from ${EPOCHS[0] === 0 ? "as built" : `epoch ${EPOCHS[0]}`} to trained`;
  $("epoch-controls").hidden = false;
  $("epoch-accuracy").hidden = false;
  const slider = $("epoch");
  slider.max = EPOCHS.length - 1;
  slider.addEventListener("input", () => { pauseEpochs(); showEpoch(EPOCHS[Number(slider.value)]); });
  $("epoch-back").addEventListener("click", () => { pauseEpochs(); stepEpoch(-1); });
  $("epoch-next").addEventListener("click", () => { pauseEpochs(); stepEpoch(1); });
  $("epoch-play").addEventListener("click", () => (epochTimer ? pauseEpochs() : playEpochs()));
  const last = held.map(n => `${role(n)} ${n.epochs.kept[n.epochs.kept.length - 1]}`).join(", ");
  // A run resumed from one made before train.py kept snapshots holds them from where it resumed.
  const built = EPOCHS[0] === 0
    ? `Epoch 0 is ${held.length > 1 ? "each network" : "the network"} as built, before any training. ` : "";
  $("epoch-note").textContent = `${built}The last epoch (${last}) ` +
    "is the saved model itself, in float32; the epochs before it are held in float16, as train.py keeps them " +
    `(${held.map(n => n.epochs.file).join(", ")}): 3 significant digits, which can move a probability in its ` +
    `third decimal. ${missing.join(" ")}`;
  if (held.some(n => n.epochs.accuracy.some(a => a !== null))) {
    $("epoch-strip").removeAttribute("hidden");  // an <svg> has no .hidden property, only the attribute
    new ResizeObserver(drawStrip).observe($("epoch-strip"));
  }
  showEpochState();
}

// Both networks' weights at `epoch` (each at its own last epoch up to it), without redrawing.
function useEpochs(epoch) {
  state.epoch = epoch;
  for (const network of NETWORKS) if (network.epochs) useEpoch(network, rowFor(network, epoch));
  showEpochState();
}

function showEpoch(epoch) {
  useEpochs(epoch);
  update();
}

function stepEpoch(by) {
  const next = EPOCHS.indexOf(state.epoch) + by;
  if (next >= 0 && next < EPOCHS.length) showEpoch(EPOCHS[next]);
}

// From the epoch shown (from the first, when it is the last), one epoch every EPOCH_EVERY_MS, to the last.
function playEpochs() {
  if (state.epoch === EPOCHS[EPOCHS.length - 1]) showEpoch(EPOCHS[0]);
  $("epoch-play").setAttribute("aria-pressed", "true");
  $("epoch-play").textContent = "❚❚ pause";
  epochTimer = setInterval(() => {
    stepEpoch(1);
    if (state.epoch === EPOCHS[EPOCHS.length - 1]) pauseEpochs();
  }, EPOCH_EVERY_MS);
}

function pauseEpochs() {
  clearInterval(epochTimer);
  epochTimer = null;
  $("epoch-play").setAttribute("aria-pressed", "false");
  $("epoch-play").textContent = "▶ play";
}

// Where the networks are: the slider, its words, each network's validation accuracy, the strip's mark.
function showEpochState() {
  if (EPOCHS.length < 2) return;
  const index = EPOCHS.indexOf(state.epoch), last = EPOCHS[EPOCHS.length - 1];
  const slider = $("epoch");
  slider.value = index;
  const words = `epoch ${state.epoch} of ${last}`;
  slider.setAttribute("aria-valuetext", words);
  $("epoch-back").disabled = index === 0;
  $("epoch-next").disabled = index === EPOCHS.length - 1;
  const behind = NETWORKS.filter(n => n.epochs && n.epochs.kept[rowFor(n, state.epoch)] !== state.epoch)
    .map(n => `the ${role(n)} at its ${n.epoch === n.epochs.kept.length - 1 ? "last" : "first"}, ` +
              `${n.epochs.kept[n.epoch]}`);
  $("epoch-value").textContent = `${words}${state.epoch === 0 ? " (as built)" : ""}` +
    (behind.length ? ` (${behind.join("; ")})` : "");
  const accuracies = NETWORKS.filter(n => n.epochs).map(n => [n, n.epochs.accuracy[n.epoch]]);
  $("epoch-accuracy").textContent = accuracies.every(([, a]) => a === null)
    ? "Validation accuracy: none before training."
    : "Validation accuracy after this epoch: " + accuracies.map(([n, a]) => `${role(n)} ` +
      (a === null ? "none" : `${(100 * a).toFixed(1)}%`)).join(", ") + ".";
  drawStrip();
}

// The strip: each network's validation accuracy per epoch, a line in its colour, and the epoch shown
// marked across both; drawn in the strip's own pixels (again when its width changes).
function drawStrip() {
  const svg = $("epoch-strip");
  if (svg.hasAttribute("hidden")) return;
  const width = svg.clientWidth, height = svg.clientHeight;
  svg.textContent = "";
  const series = NETWORKS.filter(n => n.epochs).map(n => ({
    network: n, which: n === CNN ? "cnn" : "dnn",
    points: n.epochs.kept.map((epoch, row) => [epoch, n.epochs.accuracy[row], row]).filter(p => p[1] !== null)}));
  const values = series.flatMap(s => s.points.map(p => p[1]));
  const low = Math.floor(Math.min(...values) * 50) / 50, high = Math.max(low + 0.02, Math.ceil(Math.max(...values) * 50) / 50);
  const [left, right, top, bottom] = [36, 6, 5, 5];
  const first = EPOCHS[0], last = EPOCHS[EPOCHS.length - 1];
  const x = epoch => left + ((epoch - first) / (last - first)) * (width - left - right);
  const y = value => top + ((high - value) / (high - low)) * (height - top - bottom);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return svg.appendChild(node);
  };
  add("text", {x: left - 4, y: top + 8, class: "axis"}, `${Math.round(100 * high)}%`);
  add("text", {x: left - 4, y: height - bottom, class: "axis"}, `${Math.round(100 * low)}%`);
  add("line", {x1: x(state.epoch), x2: x(state.epoch), y1: 0, y2: height, class: "now"});
  for (const {network, which, points} of series) {
    add("polyline", {points: points.map(([e, a]) => `${x(e)},${y(a)}`).join(" "), class: which});
    for (const [epoch, value, row] of points) {
      add("circle", {cx: x(epoch), cy: y(value), r: row === network.epoch ? 4 : 2, class: which});
    }
  }
  svg.setAttribute("aria-label", "Validation accuracy per epoch. " + series.map(({network, points}) =>
    `${role(network)}: ` + points.map(([e, a]) => `epoch ${e} ${(100 * a).toFixed(1)}%`).join(", "))
    .join("; ") + `. Shown: epoch ${state.epoch}.`);
}
