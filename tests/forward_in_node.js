// The explorer page's forward.js run in node, for tests/test_explorer_forward.py:
//
//   node tests/forward_in_node.js DATA.json OUT_DIR IMAGES PIXELS.json
//
// DATA.json is what the page embeds (convlab/explorer_page.page_data). For the first IMAGES
// embedded test images, each network's every layer output goes to OUT_DIR/<network>_<k>.f32
// (little-endian float32, image after image), the last layer's logits to <network>_logits.f32,
// and OUT_DIR/<network>.json lists the layers' shapes. For the CNN, OUT_DIR/explained.json
// holds the arithmetic of the pixels PIXELS.json names ([{image, layer, channel, row, col}]):
// the value explainConv or explainPool works out, and the receptive field. A network that holds
// its epochs (the page's epoch control) is also run at each of them, in order: its probabilities
// and logits, epoch after epoch and image after image, go to <network>_epochs.f32 and
// <network>_epoch_logits.f32.
"use strict";

const fs = require("fs");
const path = require("path");
const forward = require("../convlab/explorer_page/forward.js");

const [dataFile, out, count, pixelsFile] = process.argv.slice(2);
const data = JSON.parse(fs.readFileSync(dataFile, "utf8"));
const images = forward.bytes(data.images.pixels);
const image = k => images.subarray(k * forward.SIZE * forward.SIZE, (k + 1) * forward.SIZE * forward.SIZE);

function save(name, arrays) {
  const buffers = arrays.map(a => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  fs.writeFileSync(path.join(out, name), Buffer.concat(buffers));
}

for (const name of ["cnn", "dnn"]) {
  const network = forward.unpackNetwork(data[name]);
  if (!network) continue;
  const outputs = Array.from({length: Number(count)}, (_, k) => forward.forward(network, image(k)));
  network.layers.forEach((layer, k) => save(`${name}_${k}.f32`, outputs.map(o => o[k].data)));
  save(`${name}_logits.f32`, outputs.map(o => o[o.length - 1].logits));
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(network.layers.map((layer, k) => ({
    name: layer.name, type: layer.type, folded: layer.folded || [],
    shape: [outputs[0][k].height, outputs[0][k].width, outputs[0][k].channels]}))));
  if (!network.epochs) continue;
  const last = network.epochs.kept.length - 1;
  const atEpochs = network.epochs.kept.map((_, row) => {
    forward.useEpoch(network, row);
    return Array.from({length: Number(count)}, (_, k) => forward.forward(network, image(k)).pop());
  });
  forward.useEpoch(network, last);  // back to the saved model, for the pixels below
  save(`${name}_epochs.f32`, atEpochs.flat().map(o => o.data));
  save(`${name}_epoch_logits.f32`, atEpochs.flat().map(o => o.logits));
}

const cnn = data.cnn;  // unpacked above
const explained = JSON.parse(fs.readFileSync(pixelsFile, "utf8")).map(({image: n, layer: k, channel, row, col}) => {
  const outputs = forward.forward(cnn, image(n));
  const layer = cnn.layers[k];
  const input = k > 0 ? outputs[k - 1] : Object.assign(forward.tensor(forward.SIZE, forward.SIZE, 1), {data: Float32Array.from(image(n))});
  const e = layer.type === "Conv2D" ? forward.explainConv(input, layer, channel, row, col)
                                    : forward.explainPool(input, layer, channel, row, col);
  return {value: e.value, map: forward.at(outputs[k], row, col, channel),
          field: forward.receptiveField(cnn, k, row, col)};
});
fs.writeFileSync(path.join(out, "explained.json"), JSON.stringify(explained));
