/**
 * Plain typed-array params (not from createParam) are pipelined with worker threads: the calling
 * thread stages chunks in and out while the workers update them. The result must be bit for bit what
 * the same step computes in place on params that live in adamw-lab's memory (createParam), for every
 * update family the pipeline runs, on tensors that are not whole chunks, blocks or vectors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, AdamW, toBf16, type AdamOptimizer, type OptimizerOptions, type Param } from '../src/index.js';
import { allocateViewsInArena, releaseFromArena } from '../src/backends/cpu/arena.js';
import { hardwareThreads } from '../src/backends/cpu/threads.js';
import type { WasmBackend } from '../src/backends/cpu/wasm-backend.js';
import { seededNormal } from './helpers.js';

interface PipelineCase {
  name: string;
  make: (params: Param[], options: OptimizerOptions) => AdamOptimizer;
  options: OptimizerOptions;
  dtype: 'f32' | 'bf16';
  bf16Grads?: boolean;
  nonFinite?: boolean;
}

const CASES: PipelineCase[] = [
  { name: 'fp32 AdamW', make: (p, o) => new AdamW(p, o), options: {}, dtype: 'f32' },
  { name: 'fp32 AdamW, amsgrad', make: (p, o) => new AdamW(p, o), options: { amsgrad: true }, dtype: 'f32' },
  { name: 'fp32 Adam (L2 decay), maximize', make: (p, o) => new Adam(p, o), options: { weightDecay: 0.1, maximize: true }, dtype: 'f32' },
  { name: 'AdamW8bit, NaN/Inf in the grads', make: (p, o) => new AdamW(p, o), options: { stateDtype: '8bit' }, dtype: 'f32', nonFinite: true },
  { name: 'AdamW on bf16 params (Kahan), bf16 grads', make: (p, o) => new AdamW(p, o), options: {}, dtype: 'bf16', bf16Grads: true },
  { name: 'AdamW on bf16 params without Kahan', make: (p, o) => new AdamW(p, o), options: { kahan: false }, dtype: 'bf16' },
  { name: 'AdamW8bitKahan (bf16 params)', make: (p, o) => new AdamW(p, o), options: { stateDtype: '8bit', kahan: true }, dtype: 'bf16' },
];

/** Large enough to be pipelined (2 × 2^17 elements), and not a whole number of chunks (2^16), 8-bit blocks or vectors. */
const SIZES = [(1 << 18) + 3, 300_077];

/** Seeded params and three steps' grads for one case, as the arrays the param will hold. */
function inputs(c: PipelineCase, n: number, seed: number): { data: Float32Array | Uint16Array; grads: Array<Float32Array | Uint16Array> } {
  const normal = seededNormal(seed);
  const values = Float32Array.from({ length: n }, normal);
  const grads = [0, 1, 2].map(() => {
    const g = Float32Array.from({ length: n }, () => normal() * 10 ** (normal() - 1));
    if (c.nonFinite) for (let i = 0; i < n; i += 997) g[i] = [NaN, Infinity, -Infinity][i % 3]!;
    return c.bf16Grads ? toBf16(g) : g;
  });
  return { data: c.dtype === 'bf16' ? toBf16(values) : values, grads };
}

/** The param as plain arrays, or in adamw-lab's memory (what createParam does, for any dtype). */
function place(data: Float32Array | Uint16Array, gradLike: Float32Array | Uint16Array, dtype: 'f32' | 'bf16', inArena: boolean): Param {
  const n = data.length;
  const [d, g] = inArena
    ? allocateViewsInArena([{ Type: data.constructor as typeof Uint8Array, length: n }, { Type: gradLike.constructor as typeof Uint8Array, length: n }]) as unknown as [typeof data, typeof gradLike]
    : [new (data.constructor as typeof Float32Array)(n), new (gradLike.constructor as typeof Float32Array)(n)];
  d.set(data);
  return dtype === 'bf16' ? { data: d, grad: g, dtype: 'bf16' } : { data: d, grad: g };
}

const bits = (a: ArrayLike<number> & ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('plain-array params pipelined with worker threads: bit-identical to params in adamw-lab memory', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      for (const n of SIZES) {
        const { data, grads } = inputs(c, n, n);
        const plain = place(data, grads[0]!, c.dtype, false);
        const resident = place(data, grads[0]!, c.dtype, true);
        const plainOpt = c.make([plain], { ...c.options, threads: 2 });
        const residentOpt = c.make([resident], { ...c.options, threads: 2 });
        for (const g of grads) {
          plain.grad!.set(g);
          resident.grad!.set(g);
          await plainOpt.step();
          await residentOpt.step();
        }
        if (hardwareThreads() > 1) {
          assert.equal((plainOpt as unknown as { backend: WasmBackend }).backend.lastStepThreads, 2, 'the plain-array step ran on the pipeline');
        }
        assert.deepEqual(bits(plain.data as Float32Array), bits(resident.data as Float32Array), `${c.name}, ${n}: params`);
        const a = plainOpt.stateDict().state[0] as unknown as Record<string, unknown>;
        for (const [key, value] of Object.entries(residentOpt.stateDict().state[0]!)) {
          if (key === 'step') continue;
          assert.deepEqual(bits(a[key] as Float32Array), bits(value as Float32Array), `${c.name}, ${n}: ${key}`);
        }
        plainOpt.destroy();
        residentOpt.destroy();
        releaseFromArena(resident.data);
        releaseFromArena(resident.grad as Float32Array);
      }
    });
  }
});
