/** bf16 conversions, optimi's Kahan AdamW and StableAdamW reference rules against the oracles listed in docs/algorithms.mdx. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bf16ToFloat, floatToBf16, floatToBf16Stochastic, fromBf16, roundToBf16, toBf16 } from '../src/rules/bf16.js';
import { debiasedBeta, debiasedReferenceStep, type DebiasedHyperparameters } from '../src/rules/debiased.js';
import { adamReferenceStep } from '../src/rules/adam.js';
import { seededRandom } from './helpers.js';

const OPTIMI: DebiasedHyperparameters = {
  lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, decoupleLr: false, maxLr: 1e-3, kahan: false, stable: false,
};

describe('bf16 conversions', () => {
  it('known bit patterns: 1, -2, 0.99609375, 1/3, the largest finite, overflow, NaN, -0', () => {
    assert.equal(floatToBf16(1), 0x3f80);
    assert.equal(floatToBf16(-2), 0xc000);
    assert.equal(floatToBf16(0.99609375), 0x3f7f);
    assert.equal(floatToBf16(1 / 3), 0x3eab); // 0x3EAAAAAB rounds up
    assert.equal(floatToBf16(3.3895313892515355e38), 0x7f7f);
    assert.equal(floatToBf16(3.4e38), 0x7f80); // past the largest finite bf16: Infinity
    assert.equal(floatToBf16(NaN) & 0x7fc0, 0x7fc0);
    assert.equal(floatToBf16(-0), 0x8000);
  });
  it('round to nearest, ties to even, on the float32 bit pattern', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x7f7fffff }), fc.boolean(), (bits, negative) => {
      const u = new Uint32Array([(bits | (negative ? 0x80000000 : 0)) >>> 0]);
      const x = new Float32Array(u.buffer)[0]!;
      const hi = u[0]! >>> 16, lo = u[0]! & 0xffff;
      const expected = lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1) ? hi + 1 : hi;
      assert.equal(floatToBf16(x), expected & 0xffff);
      // The result is one of the two neighbours, and no farther than half a bf16 ulp.
      assert.ok(Math.abs(bf16ToFloat(floatToBf16(x)) - x) <= Math.abs(bf16ToFloat(hi + 1) - bf16ToFloat(hi)) / 2);
    }), { numRuns: 2000, seed: 3 });
  });
  it('bf16 -> float -> bf16 is the identity on every finite pattern', () => {
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0) continue; // NaNs
      assert.equal(floatToBf16(bf16ToFloat(b)), b);
    }
  });
  it('stochastic rounding is unbiased: the mean of 20000 roundings of 1 + 1/3 ulp is within 3σ', () => {
    const random = seededRandom(99);
    const ulp = 2 ** -7;
    const x = 1 + ulp / 3;
    const n = 20000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += bf16ToFloat(floatToBf16Stochastic(x, random));
    const sigma = (ulp * Math.sqrt((1 / 3) * (2 / 3))) / Math.sqrt(n);
    assert.ok(Math.abs(sum / n - x) < 3 * sigma, `mean ${sum / n} vs ${x}`);
    const arr = toBf16([x, x], { rounding: 'stochastic', random });
    assert.ok(arr.every((b) => b === 0x3f80 || b === 0x3f81));
    assert.deepEqual(Array.from(fromBf16(toBf16([1.5, -0.25]))), [1.5, -0.25]);
  });
});

describe('optimi AdamW', () => {
  it('debiased beta is 0 at t = 1 and tends to β', () => {
    assert.ok(debiasedBeta(0.9, 1) === 0); // (β − β)/(β − 1) is −0
    assert.ok(Math.abs(debiasedBeta(0.9, 2) - 0.9 / 1.9) < 1e-15);
    assert.ok(Math.abs(debiasedBeta(0.99, 5000) - 0.99) < 1e-12);
  });

  it('lr 1e-3, g = 0.5 -> p = 0.998990002, exp_avg = 0.5 (debiased), exp_avg_sq = 0.25', () => {
    const p = Float64Array.of(1), m = new Float64Array(1), v = new Float64Array(1);
    debiasedReferenceStep(OPTIMI, 1, p, [0.5], m, v);
    assert.ok(Math.abs(p[0]! - 0.998990002) < 1e-12, `${p[0]}`);
    assert.equal(m[0], 0.5);
    assert.equal(v[0], 0.25);
  });

  it('three steps g = 0.5, -0.3, 0.8 -> p = 0.99817587413, the same trajectory as PyTorch AdamW', () => {
    const p = Float64Array.of(1), m = new Float64Array(1), v = new Float64Array(1);
    const q = Float64Array.of(1), mq = new Float64Array(1), vq = new Float64Array(1);
    [0.5, -0.3, 0.8].forEach((g, i) => {
      debiasedReferenceStep(OPTIMI, i + 1, p, [g], m, v);
      adamReferenceStep({ lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' },
        i + 1, q, Float64Array.of(g), mq, vq);
      // optimi's eps is added to √v̂, like PyTorch's: the trajectories agree to rounding.
      assert.ok(Math.abs(p[0]! - q[0]!) < 1e-12);
    });
    assert.ok(Math.abs(p[0]! - 0.99817587413) < 1e-11, `${p[0]}`);
  });

  it('bf16, g = 1, lr 1e-4, wd 0: without Kahan p stays 1.0; with Kahan the bf16 bit patterns match the oracle', () => {
    const hp = { ...OPTIMI, lr: 1e-4, weightDecay: 0 };
    const run = (kahan: boolean) => {
      const p = Float64Array.of(1), m = new Float64Array(1), v = new Float64Array(1), c = new Float64Array(1);
      const at = new Map<number, [number, number]>();
      for (let t = 1; t <= 100; t++) {
        debiasedReferenceStep({ ...hp, kahan }, t, p, [1], m, v, c, roundToBf16);
        at.set(t, [floatToBf16(p[0]!), floatToBf16(c[0]!)]);
      }
      return at;
    };
    const plain = run(false);
    for (const [, [p]] of plain) assert.equal(p, floatToBf16(1), 'plain bf16 AdamW stalls at 1.0');
    const kahan = run(true);
    assert.deepEqual(kahan.get(19), [floatToBf16(1.0), floatToBf16(-0.00189209)]);
    assert.deepEqual(kahan.get(20), [floatToBf16(0.99609375), floatToBf16(0.00190735)]);
    assert.deepEqual(kahan.get(100), [floatToBf16(0.98828125), floatToBf16(0.00176239)]);
    const [p100, c100] = kahan.get(100)!;
    // p + c carries the sum that bf16 alone cannot: 0.99004364 vs the exact 0.99000010.
    assert.ok(Math.abs(bf16ToFloat(p100) + bf16ToFloat(c100) - 0.99004364) < 1e-7);
  });
});

describe('StableAdamW (optimi)', () => {
  it('g = 0.1 then 1.0: rms 1 then 1.403742187, lr_t = 7.1238153e-4, and the decay uses lr_t', () => {
    const hp = { ...OPTIMI, stable: true };
    const p = Float64Array.of(1), m = new Float64Array(1), v = new Float64Array(1);
    const first = debiasedReferenceStep(hp, 1, p, [0.1], m, v);
    assert.ok(Math.abs(first.rms - 1) < 1e-12);
    assert.ok(Math.abs(p[0]! - 0.99899001) < 1e-8, `${p[0]}`);
    const before = p[0]!;
    const second = debiasedReferenceStep(hp, 2, p, [1.0], m, v);
    assert.ok(Math.abs(second.rms - 1.403742187) < 1e-9, `${second.rms}`);
    assert.ok(Math.abs(second.lr - 7.1238153e-4) < 1e-11, `${second.lr}`);
    assert.ok(Math.abs(p[0]! - 0.99840921) < 1e-8, `${p[0]}`);
    // Decay with lr_t, not lr: redo step 2's arithmetic both ways and see which one the rule took.
    const update = (-second.lr * m[0]!) / (Math.sqrt(v[0]!) + hp.eps);
    assert.ok(Math.abs(p[0]! - (before * (1 - second.lr * hp.weightDecay) + update)) < 1e-15);
    assert.ok(Math.abs(p[0]! - (before * (1 - hp.lr * hp.weightDecay) + update)) > 1e-9);
  });
});
