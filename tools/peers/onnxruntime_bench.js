// tools/peers/onnxruntime_bench.js MODEL.onnx THREADS: ONNX Runtime's side of tools/peers/onnx_bench.py (npm
// onnxruntime-node, CPU execution provider, all graph optimisations, THREADS intra-op threads): inference images/s at
// batch 64 and batch-1 latency ms of a (N, 1, 48, 48) model, as CSV rows "measure,batch,value,cpu_value" (the median
// of the runs by wall time and by this process's CPU time).
'use strict';
const ort = require('onnxruntime-node');

function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

async function medianMs(run, minRuns, minSeconds) {
  await run();
  await run();
  const wall = [], cpu = [];
  let total = 0;
  while (wall.length < minRuns || total < minSeconds * 1e3) {
    const c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    await run();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    cpu.push(cpuMs() - c0);
    wall.push(ms);
    total += ms;
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return [wall[wall.length >> 1], cpu[cpu.length >> 1]];
}

async function main() {
  const [model, threads] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: Number(threads),
    interOpNumThreads: 1, executionMode: 'sequential'});
  const input = session.inputNames[0];
  console.log('measure,batch,value,cpu_value');
  for (const batch of [64, 1]) {
    const data = new Float32Array(batch * 48 * 48).map(() => Math.random());
    const feeds = {[input]: new ort.Tensor('float32', data, [batch, 1, 48, 48])};
    const [ms, cpu] = await medianMs(() => session.run(feeds), batch === 1 ? 20 : 5, 1.0);
    if (batch === 64) {
      console.log(`infer,64,${(64 / (ms * 1e-3)).toFixed(2)},${(64 / (cpu * 1e-3)).toFixed(2)}`);
    } else {
      console.log(`latency,1,${ms.toFixed(3)},${cpu.toFixed(3)}`);
    }
  }
}
main().catch((e) => { console.error('onnxruntime_bench: ' + e); process.exit(1); });
