/**
 * The CPU backend's worker threads claim 64K-element jobs from a shared counter (dynamic chunks), so
 * which thread runs which block changes from step to step. The arithmetic must not: every block's
 * result depends on that block alone, so 2 threads give the 1-thread result bit for bit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, AdamW8bit, createParam, releaseParam, type AdamOptimizer, type Fp32Param } from '../src/index.js';
import type { WasmBackend } from '../src/backends/cpu/wasm-backend.js';
import { seededNormal } from './helpers.js';

/** 17 jobs of up to 64K elements, a partial last block and a tail that is not a whole vector. */
const N = 1_050_001;

/** Params and state after three steps on `threads` threads; gradients hold NaN and ±∞ in scattered blocks. */
async function threeSteps(make: (p: Fp32Param, threads: number) => AdamOptimizer, threads: number): Promise<{ bytes: Uint8Array[]; threadsUsed: number }> {
  const normal = seededNormal(51);
  const param = createParam(Float32Array.from({ length: N }, () => normal()));
  const opt = make(param, threads);
  for (let step = 1; step <= 3; step++) {
    param.grad.set(Float32Array.from({ length: N }, () => normal() * 10 ** (normal() - 2)));
    for (let i = 97 * step; i < N; i += 9_973 * step) param.grad[i] = [NaN, Infinity, -Infinity][i % 3]!;
    await opt.step();
  }
  const state = opt.stateDict().state[0]!;
  const bytes = [param.data, ...Object.keys(state).sort().map((k) => state[k as keyof typeof state])]
    .filter((b): b is Float32Array | Uint8Array => ArrayBuffer.isView(b))
    .map((b) => new Uint8Array(b.slice().buffer));
  const threadsUsed = (opt as unknown as { backend: WasmBackend }).backend.lastStepThreads;
  opt.destroy();
  releaseParam(param);
  return { bytes, threadsUsed };
}

describe('CPU backend with dynamic chunks: 2 threads give the 1-thread result bit for bit', () => {
  const cases: Array<[string, (p: Fp32Param, threads: number) => AdamOptimizer, number]> = [
    ['AdamW8bit (params, codes and absmax)', (p, threads) => new AdamW8bit([p], { lr: 1e-3, weightDecay: 0.01, threads }), 5],
    ['AdamW (params, m and v)', (p, threads) => new AdamW([p], { lr: 1e-3, weightDecay: 0.01, threads }), 3],
  ];
  for (const [name, make, buffers] of cases) {
    it(`${name}, 1,050,001 elements, NaN and ±∞ gradients`, async (t) => {
      const one = await threeSteps(make, 1);
      const two = await threeSteps(make, 2);
      if (two.threadsUsed < 2) {
        t.skip('this machine offers one hardware thread');
        return;
      }
      assert.equal(one.threadsUsed, 1);
      assert.equal(two.bytes.length, buffers);
      two.bytes.forEach((b, k) => {
        const at = b.findIndex((x, i) => x !== one.bytes[k]![i]);
        assert.equal(at, -1, `buffer ${k} differs from byte ${at}`);
      });
    });
  }
});
