// The forward pass of a model train.py saved, and the arithmetic behind any one of its pixels,
// in plain JavaScript: what Keras computes, written to be read like convolution.py.
//
// A Conv2D layer is a 3x3 multiply-sum at every pixel, a MaxPooling2D layer keeps the largest
// of each 2x2 square: one small function per layer type. This file knows nothing of the page
// (no document, no window): the page loads it as its first script, and the tests load it in
// node (tests/forward_in_node.js) and compare every layer's output with Keras'.
"use strict";

const SIZE = 28;  // Fashion-MNIST images are 28x28 pixels, one grey channel

// --- Unpacking what Python embedded (convlab/explorer_page/__init__.py, packed()) -------

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

// A network as packed, with each layer's kernel and bias decoded into kernel.values, bias.values:
// the saved model's weights, which are also its last epoch (kept in kernel.saved, bias.saved).
function unpackNetwork(network) {
  if (!network) return null;
  for (const layer of network.layers) {
    if (layer.kernel) {
      layer.kernel.values = layer.kernel.saved = floats(layer.kernel.data);
      layer.bias.values = layer.bias.saved = floats(layer.bias.data);
    }
  }
  network.epoch = network.epochs ? network.epochs.kept.length - 1 : 0;  // which epoch the weights are now
  return network;
}

// --- Every epoch's weights -------------------------------------------------------------
// The epochs before the last travel as float16 (half precision: 1 sign bit, 5 of exponent,
// 10 of fraction), the numbers train.py kept (snapshots.py); every float16 is exactly a
// float32, so decoding loses nothing. The last epoch is the saved model itself, in float32.

let HALVES = null;  // the float32 of each of the 65,536 float16 bit patterns, made when first needed

function half(bits) {
  const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;  // subnormal: no leading 1
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function halves(base64) {
  if (!HALVES) HALVES = Float32Array.from({length: 65536}, (_, bits) => half(bits));
  const codes = new Uint16Array(bytes(base64).buffer);  // little-endian, as every browser's machine is
  const out = new Float32Array(codes.length);
  for (let k = 0; k < codes.length; k++) out[k] = HALVES[codes[k]];
  return out;
}

// One layer's kernel and bias at held epoch `row`. A BatchNormalization folded into the layer
// comes unfolded, as Keras keeps it, and is folded here as the packing folds the saved model's
// (explorer_page.fold_batch_norm): kernel x gamma / sqrt(variance + epsilon) per output channel,
// bias (bias - mean) x gamma / sqrt(variance + epsilon) + beta; in float64, stored as float32.
function weightsAt(layer, row) {
  const held = layer.epochs;
  const kernel = halves(held.kernel[row]);
  const bias = held.bias ? halves(held.bias[row]) : new Float32Array(layer.bias.saved.length);
  if (!held.mean) return {kernel, bias};
  const outputs = bias.length;
  const gamma = held.gamma ? halves(held.gamma[row]) : null, beta = held.beta ? halves(held.beta[row]) : null;
  const mean = halves(held.mean[row]), variance = halves(held.variance[row]);
  const factor = new Float64Array(outputs);
  for (let c = 0; c < outputs; c++) {
    factor[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + held.epsilon);
    bias[c] = (bias[c] - mean[c]) * factor[c] + (beta ? beta[c] : 0);
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] *= factor[k % outputs];  // the output channel is the last axis
  return {kernel, bias};
}

// Put the network's weights at its kept epoch number `row` (0: the first kept; the last: the
// saved model). Each epoch is decoded once, when first asked for, and kept.
function useEpoch(network, row) {
  if (!network.epochs || row === network.epoch) return;
  const last = network.epochs.kept.length - 1;
  for (const layer of network.layers) {
    if (!layer.kernel) continue;
    if (row === last) {
      layer.kernel.values = layer.kernel.saved;
      layer.bias.values = layer.bias.saved;
      continue;
    }
    if (!layer.decoded) layer.decoded = [];
    if (!layer.decoded[row]) layer.decoded[row] = weightsAt(layer, row);
    layer.kernel.values = layer.decoded[row].kernel;
    layer.bias.values = layer.decoded[row].bias;
  }
  network.epoch = row;
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

// All the filters' sums for one output pixel are built together: each value of the window
// is multiplied by every filter's weight for it (stored side by side, as Keras stores them)
// and added to that filter's sum. Each filter's sum is the same as one filter at a time
// (explainConv works it so), added up in the same order; a value of 0 adds nothing and is
// skipped, and the image's black border and the ReLU's zeros make many.
function conv2d(input, layer) {
  const [rows, cols, channels, filters] = layer.kernel.shape;
  const pad = padding(layer);
  const same = layer.padding === "same";
  const out = tensor(same ? input.height : input.height - rows + 1, same ? input.width : input.width - cols + 1, filters);
  const sums = new Float64Array(filters);  // the output pixel's sum so far, one per filter
  const kernel = layer.kernel.values, data = input.data;
  for (let row = 0; row < out.height; row++) {
    for (let col = 0; col < out.width; col++) {
      sums.set(layer.bias.values);  // each filter's sum starts at its bias
      for (let i = 0; i < rows; i++) {
        const r = row + i - pad.top;
        if (r < 0 || r >= input.height) continue;  // padding: the window reads 0 here
        for (let j = 0; j < cols; j++) {
          const c = col + j - pad.left;
          if (c < 0 || c >= input.width) continue;
          for (let channel = 0; channel < channels; channel++) {
            const x = data[(r * input.width + c) * channels + channel];
            if (x === 0) continue;
            const w = ((i * cols + j) * channels + channel) * filters;  // weight(layer.kernel, i, j, channel, 0)
            for (let filter = 0; filter < filters; filter++) sums[filter] += x * kernel[w + filter];
          }
        }
      }
      const first = index(out, row, col, 0);
      for (let filter = 0; filter < filters; filter++) out.data[first + filter] = activate(sums[filter], layer.activation);
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
// softmax turns them into probabilities. As in conv2d, all the units' sums are built
// together, input after input (the weights of one input to every unit lie side by side),
// each in the same order as one unit at a time, and an input of 0 is skipped.
function dense(input, layer) {
  const [inputs, outputs] = layer.kernel.shape;
  const out = tensor(1, 1, outputs);
  const sums = Float64Array.from(layer.bias.values), kernel = layer.kernel.values;
  for (let k = 0; k < inputs; k++) {
    const x = input.data[k];
    if (x === 0) continue;
    for (let unit = 0; unit < outputs; unit++) sums[unit] += x * kernel[k * outputs + unit];
  }
  for (let unit = 0; unit < outputs; unit++) {
    out.data[unit] = layer.activation === "softmax" ? sums[unit] : activate(sums[unit], layer.activation);
  }
  if (layer.activation === "softmax") {
    out.logits = Float32Array.from(out.data);
    softmax(out.data);
  }
  return out;
}

// Activation: a separate ReLU layer (one the packing did not fold into the layer before it).
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

// The largest value of a layer's output (or of one of its maps): which map, and where in it.
function strongestPixel(t, channel) {
  let best = channel === undefined ? argmax(t.data) : channel;
  if (channel !== undefined) {
    for (let k = channel; k < t.data.length; k += t.channels) if (t.data[k] > t.data[best]) best = k;
  }
  const pixel = Math.floor(best / t.channels);
  return {channel: best % t.channels, row: Math.floor(pixel / t.width), col: pixel % t.width};
}

// --- The arithmetic behind one pixel ----------------------------------------------------

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

// The square of the input image that one pixel of layer k depends on, found by walking
// back through the layers: each 3x3 convolution widens it by 2 pixels (and SAME padding
// centres it on the pixel), each 2x2 pooling doubles it. A pixel of the course CNN's conv_1
// sees 3x3 pixels of the image, one of conv_2 sees 8x8. It can hang over the image's edge.
function receptiveField(network, k, row, col) {
  let field = {row, col, rows: 1, cols: 1};
  for (let l = k; l >= 0; l--) {
    const layer = network.layers[l];
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

// How much map `channel` of a conv layer's input adds to filter `filter` at (row, col): that
// channel's share of explainConv's sum, without working out the other channels.
function contribution(input, layer, channel, filter, row, col) {
  const [rows, cols] = layer.kernel.shape;
  const pad = padding(layer);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const r = row + i - pad.top, c = col + j - pad.left;
      if (r >= 0 && c >= 0 && r < input.height && c < input.width) {
        total += at(input, r, c, channel) * weight(layer.kernel, i, j, channel, filter);
      }
    }
  }
  return total;
}

if (typeof module !== "undefined") {
  module.exports = {
    SIZE, bytes, floats, halves, unpackNetwork, useEpoch, tensor, at, forward, probabilities, argmax, strongestPixel,
    explainConv, explainPool, receptiveField, contribution,
  };
}
