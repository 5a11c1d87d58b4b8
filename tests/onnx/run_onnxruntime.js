// tests/onnx/run_onnxruntime.js MODEL.onnx PIXELS.bin N: runs MODEL under ONNX Runtime (npm onnxruntime-node, CPU
// execution provider, all graph optimisations) on N images of (1, 48, 48) float32 pixels read from PIXELS.bin, and
// prints the output as a JSON array of rows. Exits 77 (a skip for ctest) when onnxruntime-node is not installed.
'use strict';
const fs = require('fs');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.log('SKIPPED: onnxruntime-node is not installed (bash tools/install-deps.sh installs it in tools/peers)');
  process.exit(77);
}
async function main() {
  const [model, pixels, count] = process.argv.slice(2);
  const n = Number(count);
  const bytes = fs.readFileSync(pixels);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1});
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, [n, 1, 48, 48]);
  const result = await session.run(feeds);
  const out = result[session.outputNames[0]];
  const k = out.dims[1];
  const rows = [];
  for (let i = 0; i < n; ++i) rows.push(Array.from(out.data.slice(i * k, (i + 1) * k)));
  console.log(JSON.stringify({input: session.inputNames[0], output: session.outputNames[0], rows: rows}));
}
main().catch((e) => { console.error('onnxruntime: ' + e); process.exit(1); });
