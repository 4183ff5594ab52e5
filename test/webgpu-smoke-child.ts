/**
 * Run by test/webgpu-smoke.test.ts in a child process: one optimizer on backend 'webgpu' (two params,
 * amsgrad, 20 steps) against the same steps on backend 'cpu'; prints a JSON verdict.
 */
import { AdamW } from '../src/index.js';
import { seededNormal } from './helpers.js';

void (async () => {
  const normal = seededNormal(99);
  const sizes = [1000, 77];
  const init = sizes.map((n) => Float32Array.from({ length: n }, normal));
  const grads = Array.from({ length: 20 }, () => sizes.map((n) => Float32Array.from({ length: n }, () => 0.1 * normal())));
  const run = async (backend: 'cpu' | 'webgpu') => {
    const params = init.map((x) => ({ data: x.slice(), grad: new Float32Array(x.length) }));
    const opt = new AdamW(params, { backend, amsgrad: true, lr: 1e-2, weightDecay: 0.05 });
    for (const step of grads) {
      params.forEach((p, i) => p.grad.set(step[i]!));
      await opt.step();
    }
    const state = await opt.stateDictAsync();
    const description = opt.backendDescription;
    opt.destroy();
    return { params, state, description };
  };
  const gpu = await run('webgpu');
  const cpu = await run('cpu');
  let worst = 0;
  gpu.params.forEach((p, i) => p.data.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - cpu.params[i]!.data[k]!) / Math.max(1, Math.abs(cpu.params[i]!.data[k]!))))));
  for (const key of ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const) {
    for (const i of [0, 1]) {
      const a = gpu.state.state[i]![key] as Float32Array, b = cpu.state.state[i]![key] as Float32Array;
      a.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - b[k]!) / Math.max(1e-3, Math.abs(b[k]!)))));
    }
  }
  console.log(JSON.stringify({ worst, description: gpu.description }));
})();
