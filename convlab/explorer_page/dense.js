// The dense half, for the CNN or the DNN: Flatten, the hidden units, the logits, softmax worked
// for the top class, and which units pushed one class's logit up or down most.
"use strict";

function setUpDense() {
  $("which").hidden = !DNN;  // with no dnn beside the CNN there is nothing to switch to
  for (const radio of document.querySelectorAll('input[name="which"]')) {
    radio.addEventListener("change", () => {
      state.which = radio.value;
      state.denseClass = null;
      showDense();
    });
  }
}

function showDense() {
  const network = state.which === "dnn" && DNN ? DNN : CNN;
  const outputs = network === DNN ? state.dnnOutputs : state.outputs;
  const body = $("dense-body");
  body.textContent = "";
  const f = network.layers.findIndex(l => l.type === "Flatten");
  const last = network.layers.length - 1;
  showFlatten(body, network, outputs, f);
  let units = null;  // the cells of the layer the logits read, when it is a dense layer
  for (let k = f + 1; k < last; k++) {
    if (network.layers[k].type === "Dense") units = showUnits(body, network, outputs, k);
  }
  const chosen = state.denseClass === null ? argmax(outputs[last].data) : state.denseClass;
  showLogits(body, network.layers[last], outputs[last], chosen);
  showSoftmax(body, outputs[last]);
  showPushes(body, network, outputs, chosen, units);
}

// Flatten: what goes in, how many numbers come out.
function showFlatten(body, network, outputs, f) {
  const before = f > 0 ? outputs[f - 1] : null;
  const flat = outputs[f];
  const text = element("p");
  text.id = "flatten-text";
  const shape = before ? `${before.height}x${before.width}x${before.channels}` : "";
  text.textContent = before && network.layers[f - 1].type !== "Rescaling"
    ? `${network.layers[f - 1].name}'s ${shape} maps become one row of ${before.height} x ${before.width} x ` +
      `${before.channels} = ${thousands(flat.channels)} numbers, pixel by pixel with the ${before.channels} maps' ` +
      "values of each pixel side by side. From here on, where a number came from in the image is no longer " +
      "used: every dense unit sees all of them."
    : `The ${shape} image becomes one row of ${thousands(flat.channels)} numbers, its pixels scaled ` +
      "to 0..1. The DNN has no maps: it starts here, and a garment moved by one pixel reaches other weights.";
  const strip = element("canvas", "strip");
  strip.setAttribute("aria-hidden", "true");
  const top = brightest(flat);
  paint(strip, 1, flat.channels, (row, col) => flat.data[col] / (top || 1), COLOURS.response);
  body.append(element("h3", null, "Flatten"), text, strip);
}

// A hidden dense layer: one cell per unit, in the maps' colours. Returns the cells.
function showUnits(body, network, outputs, k) {
  const layer = network.layers[k], t = outputs[k];
  const zeros = t.data.filter(v => v === 0).length;
  const heading = element("h3", null, `${layer.name}: ${t.channels} units${layer.activation === "relu" ? ", ReLU" : ""}`);
  if (network === CNN) heading.id = `dense-layer-${k}`;  // where the flow's dense stage leads
  body.append(heading, element("p", "note",
    `Each unit multiplies all ${thousands(layer.kernel.shape[0])} numbers of its input by its own weights, adds ` +
    `them up with its bias${layer.activation === "relu" ? " and keeps the sum if it is positive" : ""}. ` +
    `${zeros} of the ${t.channels} are 0 for this input.`));
  const units = unitCells(network, k);
  units.setAttribute("aria-label", `${layer.name}: ${t.channels} unit values, ${zeros} of them 0; ` +
                     `the largest ${fixed(brightest(t))}`);
  const top = brightest(t) || 1;
  for (const cell of units.children) {
    const value = t.data[cell.dataset.unit];
    cell.className = "unit";  // no longer ringed until showPushes says so
    cell.style.background = `rgb(${colourOf(COLOURS.response, value / top).join(",")})`;
    cell.dataset.value = value;
    cell.title = `unit ${cell.dataset.unit}: ${fixed(value)}`;
  }
  body.appendChild(units);
  return units;
}

// The cells of layer k's units, made once per network and layer and painted again on every
// redraw: a redraw makes no hundreds of elements anew.
const UNIT_CELLS = new Map();
function unitCells(network, k) {
  const key = `${network === DNN ? "dnn" : "cnn"} ${k}`;
  if (!UNIT_CELLS.has(key)) {
    const units = element("div", "units");
    units.dataset.layer = network.layers[k].name;
    units.setAttribute("role", "img");
    for (let unit = 0; unit < network.layers[k].kernel.shape[1]; unit++) {
      const cell = element("span", "unit");
      cell.dataset.unit = unit;
      units.appendChild(cell);
    }
    UNIT_CELLS.set(key, units);
  }
  return UNIT_CELLS.get(key);
}

// The logits: the last layer's sums before its softmax, as bars either side of 0. A class is a
// button: it chooses the logit showPushes takes apart.
function showLogits(body, layer, output, chosen) {
  const z = output.logits;
  body.append(element("h3", null, `${layer.name}: ${CLASSES.length} logits`), element("p", "note",
    `Each class's logit is a multiply-sum of the ${thousands(layer.kernel.shape[0])} numbers before it, plus a ` +
    "bias: a score, any size, either sign. Click a class to see which units pushed its logit up or down most."));
  const table = element("table", "logits");
  table.id = "logits";
  const limit = Math.max(...Array.from(z, Math.abs)) || 1;
  CLASSES.forEach((className, k) => {
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
    const fill = element("span", `fill ${z[k] >= 0 ? "above" : "below"}`);
    const share = (50 * Math.abs(z[k])) / limit;
    fill.style.left = z[k] >= 0 ? "50%" : `${50 - share}%`;
    fill.style.width = `${share}%`;
    track.append(element("span", "zero"), fill);
    track.setAttribute("aria-hidden", "true");
    const value = element("td", "logit-value", fixed(z[k], 3));
    value.dataset.value = z[k];
    const row = element("tr");
    row.append(element("td"), element("td"), value);
    row.children[0].appendChild(button);
    row.children[1].appendChild(track);
    table.appendChild(row);
  });
  body.appendChild(table);
}

// e^z as a reader can check it: 4 significant digits.
function power(x) {
  const value = Math.exp(x);
  return value >= 1e5 || value < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}

// Softmax, worked for the top class. Each term stays on one line (a class name is never split).
function showSoftmax(body, output) {
  const z = output.logits, p = output.data;
  const top = argmax(p), name = CLASSES[top];
  const e = Array.from(z, v => Math.exp(v));
  const total = e.reduce((a, b) => a + b, 0);
  const terms = values => values.flatMap((v, k) => (k ? [" + ", term(v)] : [term(v)]));
  const heading = element("h3", null, "Softmax: logits into probabilities");
  heading.id = "softmax-title";
  const equation = element("p", "equation");
  equation.id = "softmax";
  equation.append(
    term(`p(${name})`), " = ", term(`e^z(${name})`), " / (", term(`e^z(${CLASSES[0]})`), " + … + ",
    term(`e^z(${CLASSES[CLASSES.length - 1]})`), ")", element("br"),
    "= ", term(`e^${fixed(z[top], 3)}`), " / (", ...terms(Array.from(z, v => `e^${fixed(v, 3)}`)), ")", element("br"),
    "= ", term(power(z[top])), " / (", ...terms(e.map((v, k) => power(z[k]))), ")", element("br"),
    "= ", term(power(z[top])), " / ", term(total >= 1e5 ? total.toExponential(3) : total.toPrecision(4)), " = ",
    term((e[top] / total).toFixed(4)), `, shown as ${(100 * p[top]).toFixed(1)}% above.`);
  body.append(heading, equation, element("p", "note",
    "e^z is always positive and grows fast: the largest logit takes most of the total. Logits to 3 decimals, " +
    "powers to 4 significant digits; the result is computed from the unrounded numbers."));
}

function term(text) {
  return element("span", "term", text);
}

// Which units (or inputs, for a network whose last layer reads Flatten) pushed the chosen
// class's logit up or down most: their value times their weight for that class.
function showPushes(body, network, outputs, chosen, units) {
  const last = network.layers.length - 1, layer = network.layers[last];
  const input = outputs[last - 1], z = outputs[last].logits;
  const w = layer.kernel.values, classes = layer.kernel.shape[1];
  const contributions = Array.from(input.data, (h, j) => ({unit: j, h, w: w[j * classes + chosen],
                                                            c: h * w[j * classes + chosen]}));
  const sorted = contributions.filter(x => x.c !== 0).sort((a, b) => b.c - a.c);
  const up = sorted.filter(x => x.c > 0).slice(0, PUSHES_LISTED);
  const down = sorted.filter(x => x.c < 0).reverse().slice(0, PUSHES_LISTED);
  const unitName = network.layers[last - 1].type === "Dense" ? "unit" : "input";
  body.appendChild(element("h3", null, `Why ${CLASSES[chosen]}'s logit is ${fixed(z[chosen], 3)}`));
  const pushes = element("div", "pushes");
  pushes.id = "pushes";
  pushes.append(pushTable("pushed it up most", up, "up-text", unitName),
                pushTable("pushed it down most", down, "down-text", unitName));
  body.appendChild(pushes);
  const sum = contributions.reduce((a, x) => a + x.c, 0);
  const bias = layer.bias.values[chosen];
  body.appendChild(element("p", "note",
    `All ${input.channels} products add up to ${fixed(sum)}; with the bias ${fixed(bias)} that is the logit ` +
    `${fixed(sum + bias)} (4 decimals, from the unrounded numbers). ${sorted.length < input.channels ?
      `${input.channels - sorted.length} ${unitName}s are 0 and push neither way.` : ""}`));
  if (units) {
    for (const x of up) units.children[x.unit].classList.add("up");
    for (const x of down) units.children[x.unit].classList.add("down");
    const legend = element("p", "note");
    legend.append("Ringed in the strip above:", element("span", "swatch up"), "white, the units that pushed up most;",
                  element("span", "swatch down"), "blue, those that pushed down most.");
    body.appendChild(legend);
  }
}

// One of showPushes' two lists: each unit, its value times its weight, and the product.
function pushTable(title, list, className, unitName) {
  const table = element("table");
  table.appendChild(element("caption", null, title));
  for (const x of list) {
    const row = element("tr");
    row.dataset.unit = x.unit;
    row.append(element("td", null, `${unitName} ${x.unit}`), element("td", null, `${fixed(x.h)} × ${fixed(x.w)}`),
               element("td", className, `${x.c > 0 ? "+" : ""}${fixed(x.c)}`));
    table.appendChild(row);
  }
  if (!list.length) table.appendChild(element("tr")).appendChild(element("td", null, "none"));
  return table;
}
