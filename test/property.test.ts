/**
 * Property tests: one step of each fast path equals one step of the float64 reference
 * (src/rules/adam.ts on Float64Arrays) started from the same fp32 state, within a few fp32 ulps, for
 * random hyperparameters, random states, sizes that are and are not multiples of 4 and 16, and
 * gradients from 1e-30 to 1e18 in magnitude.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Adam, AdamW, adamReferenceStep, releaseParam, type AdamHyperparameters } from '../src/index.js';
import { WasmBackend } from '../src/backends/cpu/wasm-backend.js';
import { SPLIT_ALIGN, chunkRanges } from '../src/backends/cpu/jobs.js';
import { adamState, CPU_PATHS, makeParam, seededNormal, seededRandom } from './helpers.js';

/** 2^-20: eight fp32 ulps of the quantity's scale, room for the ~10 roundings of a fused step. */
const ULPS = 2 ** -20;

interface Case {
  hp: AdamHyperparameters;
  t: number;
  p: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  vmax: Float32Array;
}

/** Values spread over many orders of magnitude, with random signs. */
const magnitude = (lo: number, hi: number) =>
  fc.tuple(fc.double({ min: Math.log10(lo), max: Math.log10(hi), noNaN: true }), fc.boolean()).map(([e, neg]) => (neg ? -1 : 1) * 10 ** e);

const hyperparameters = fc.record({
  lr: fc.double({ min: 0, max: 1, noNaN: true }),
  beta1: fc.double({ min: 0, max: 0.999, noNaN: true }),
  beta2: fc.double({ min: 0, max: 0.9999, noNaN: true }),
  eps: fc.double({ min: 1e-12, max: 1, noNaN: true }),
  weightDecay: fc.double({ min: 0, max: 1, noNaN: true }),
  amsgrad: fc.boolean(),
  maximize: fc.boolean(),
  weightDecayMode: fc.constantFrom('decoupled' as const, 'l2' as const),
});

const SIZES = [1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 63, 100];

const caseArb: fc.Arbitrary<Case> = fc
  .record({ hp: hyperparameters, t: fc.integer({ min: 1, max: 2000 }), n: fc.constantFrom(...SIZES), gradScale: magnitude(1e-30, 1e18), seed: fc.integer() })
  .map(({ hp, t, n, gradScale, seed }) => {
    const normal = seededNormal(seed);
    const p = Float32Array.from({ length: n }, () => normal() * 3);
    const g = Float32Array.from({ length: n }, () => normal() * Math.abs(gradScale));
    // A state consistent with gradients of this scale: |m| ≲ |g|, v ≈ g².
    const m = Float32Array.from({ length: n }, () => normal() * Math.abs(gradScale));
    const v = Float32Array.from(m, (x, i) => x * x * (0.5 + Math.abs(normal())) + (g[i]! * g[i]!) / 4);
    const vmax = Float32Array.from(v, (x) => x * (1 + Math.abs(normal())));
    return { hp, t, p, g, m, v, vmax };
  });

/** The float64 reference step from the case's fp32 state. */
function referenceStep(c: Case) {
  const [p, m, v, vmax] = [c.p, c.m, c.v, c.vmax].map((a) => Float64Array.from(a)) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const before = Float64Array.from(p);
  adamReferenceStep(c.hp, c.t, p, Float64Array.from(c.g), m, v, vmax);
  return { p, m, v, vmax, before };
}

/** Assert one library step agrees with the reference within ULPS of each quantity's own scale. */
function assertAgrees(c: Case, got: { p: ArrayLike<number>; m: ArrayLike<number>; v: ArrayLike<number>; vmax?: ArrayLike<number> }, label: string): void {
  const ref = referenceStep(c);
  const lambdaL2 = c.hp.weightDecayMode === 'l2' ? c.hp.weightDecay : 0;
  const stepSize = c.hp.lr / (1 - c.hp.beta1 ** c.t);
  const denominator = (i: number): number =>
    Math.sqrt(c.hp.amsgrad ? ref.vmax[i]! : ref.v[i]!) / Math.sqrt(1 - c.hp.beta2 ** c.t) + c.hp.eps;
  for (let i = 0; i < c.p.length; i++) {
    const gScale = Math.abs(c.g[i]!) + lambdaL2 * Math.abs(c.p[i]!);
    const checks: Array<[string, number, number, number]> = [
      ['m', got.m[i]!, ref.m[i]!, Math.abs(c.m[i]!) + gScale],
      ['v', got.v[i]!, ref.v[i]!, Math.abs(c.v[i]!) + gScale * gScale],
      // p's error carries m's rounding through the step: (η/(1−β1^t))·δm/denom.
      ['p', got.p[i]!, ref.p[i]!, Math.abs(ref.before[i]!) + Math.abs(ref.p[i]! - ref.before[i]!) + (stepSize * (Math.abs(c.m[i]!) + gScale)) / denominator(i)],
    ];
    if (c.hp.amsgrad && got.vmax) checks.push(['vmax', got.vmax[i]!, ref.vmax[i]!, Math.abs(c.vmax[i]!) + gScale * gScale]);
    for (const [name, actual, expected, scale] of checks) {
      // fp32 cannot hold below its smallest subnormal; such differences are absolute, not relative.
      const tolerance = ULPS * scale + 1e-44;
      if (!(Math.abs(actual - expected) <= tolerance)) {
        assert.fail(`${label}: ${name}[${i}] = ${actual}, reference ${expected} (|diff| ${Math.abs(actual - expected)} > ${tolerance}) for ${JSON.stringify(c.hp)} t=${c.t}`);
      }
    }
  }
}

/** Run one step of the library from the case's state on the given path. */
async function libraryStep(c: Case, path: (typeof CPU_PATHS)[number]) {
  const param = makeParam(c.p, path.placement);
  param.grad.set(c.g);
  const Optimizer = c.hp.weightDecayMode === 'l2' ? Adam : AdamW;
  const opt = new Optimizer([param], {
    lr: c.hp.lr, betas: [c.hp.beta1, c.hp.beta2], eps: c.hp.eps, weightDecay: c.hp.weightDecay, amsgrad: c.hp.amsgrad, maximize: c.hp.maximize,
    backend: path.backend,
  });
  opt.loadStateDict({
    state: { 0: { step: c.t - 1, exp_avg: c.m, exp_avg_sq: c.v, ...(c.hp.amsgrad ? { max_exp_avg_sq: c.vmax } : {}) } },
    paramGroups: opt.stateDict().paramGroups,
  });
  await opt.step();
  const s = adamState(opt.stateDict().state[0]);
  opt.destroy();
  if (path.placement === 'arena') releaseParam(param);
  return { p: param.data, m: s.exp_avg, v: s.exp_avg_sq, vmax: s.max_exp_avg_sq };
}

describe('fast kernels agree with the float64 reference (fast-check)', () => {
  for (const path of CPU_PATHS) {
    it(`one step from random states: ${path.label}`, async () => {
      await fc.assert(fc.asyncProperty(caseArb, async (c) => assertAgrees(c, await libraryStep(c, path), path.label)), { numRuns: 300, seed: 20261123 });
    });
  }

  for (const placement of ['arena', 'plain'] as const) {
  it(`1e6 elements (${placement === 'arena' ? 'arena params, split across 2 threads' : 'plain arrays, pipelined with 2 threads'}), three steps, with and without amsgrad`, async () => {
    for (const amsgrad of [false, true]) {
      const n = 1_000_000;
      const normal = seededNormal(7 + Number(amsgrad));
      const init = Float32Array.from({ length: n }, () => normal());
      const param = makeParam(init, placement);
      const opt = new AdamW([param], { amsgrad, threads: 2 });
      const hp: AdamHyperparameters = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad, maximize: false, weightDecayMode: 'decoupled' };
      for (let t = 1; t <= 3; t++) {
        const saved = opt.stateDict().state[0];
        const before = saved ? adamState(saved) : undefined;
        const c: Case = {
          hp, t, p: param.data.slice(), g: Float32Array.from({ length: n }, () => normal() * 10 ** (normal() * 3)),
          m: before?.exp_avg ?? new Float32Array(n), v: before?.exp_avg_sq ?? new Float32Array(n), vmax: before?.max_exp_avg_sq ?? new Float32Array(n),
        };
        param.grad.set(c.g);
        await opt.step();
        const s = adamState(opt.stateDict().state[0]);
        assertAgrees(c, { p: param.data, m: s.exp_avg, v: s.exp_avg_sq, vmax: s.max_exp_avg_sq }, `1e6 step ${t}`);
      }
      // Arena tensors are split across the workers; plain arrays are pipelined with them (staged in and out by the calling thread).
      assert.equal((opt as unknown as { backend: WasmBackend }).backend.lastStepThreads, 2);
      opt.destroy();
      if (placement === 'arena') releaseParam(param);
    }
  });
  }

  it('gradients whose square overflows fp32 give v = Infinity and leave only the decay, as fp32 PyTorch does', async () => {
    for (const path of CPU_PATHS.filter((p) => p.backend === 'cpu')) {
      const param = makeParam([0.75, -2], path.placement);
      // (1 − β2)·g·g overflows fp32 once |g| > ~5.8e20.
      param.grad.set([1e21, -1e25]);
      const opt = new AdamW([param], { backend: path.backend, lr: 1e-3, weightDecay: 0.1 });
      await opt.step();
      const s = adamState(opt.stateDict().state[0]);
      assert.deepEqual(Array.from(s.exp_avg_sq), [Infinity, Infinity]);
      assert.ok(Number.isFinite(s.exp_avg[0]!) && Number.isFinite(s.exp_avg[1]!));
      // θ·(1 − ηλ) − step·m/∞ = θ·(1 − ηλ), rounded to fp32.
      assert.deepEqual(Array.from(param.data), [Math.fround(0.75 * Math.fround(1 - 1e-4)), Math.fround(-2 * Math.fround(1 - 1e-4))]);
    }
  });

  it('chunkRanges covers every element of every task exactly once, in jobs of at most one chunk cut at 256-element boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), (lengths, blocks, whole) => {
        const chunk = whole ? Infinity : blocks * SPLIT_ALIGN;
        const pieces: Array<{ task: number; start: number; end: number }> = [];
        const tasks = lengths.map((length, task) => ({
          length,
          encode: (start: number, end: number, out: number[]) => {
            pieces.push({ task, start, end });
            out.push(task);
          },
        }));
        const jobs = chunkRanges(tasks, chunk);
        assert.equal(jobs.length, pieces.length, 'one job per piece');
        // Per task: contiguous, in order, complete, each piece within one chunk and cut only at aligned points.
        lengths.forEach((length, task) => {
          const mine = pieces.filter((p) => p.task === task);
          let expected = 0;
          for (const p of mine) {
            assert.equal(p.start, expected, 'contiguous');
            assert.equal(p.start % SPLIT_ALIGN, 0, 'aligned cut');
            assert.ok(p.end > p.start && p.end - p.start <= chunk, `piece of ${p.end - p.start} > ${chunk}`);
            expected = p.end;
          }
          assert.equal(expected, length, 'complete');
          // Only a task's last piece may be shorter than a chunk.
          mine.slice(0, -1).forEach((p) => assert.equal(p.end - p.start, chunk, 'whole chunks before the last'));
        });
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('chunkRanges refuses a chunk that is not a positive multiple of 256', () => {
    for (const chunk of [0, -256, 100, 256.5]) assert.throws(() => chunkRanges([], chunk), /chunkRanges: chunk .* is not a positive multiple of 256/);
  });

  it('random draws are not degenerate', () => {
    const r = seededRandom(1);
    const xs = Array.from({ length: 1000 }, r);
    assert.ok(new Set(xs).size === 1000 && Math.min(...xs) >= 0 && Math.max(...xs) < 1);
  });
});
