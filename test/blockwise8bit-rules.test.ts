/** 8-bit blockwise state (bitsandbytes) against the oracles listed in docs/algorithms.mdx, and its error budget against fp32 AdamW. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adam8bitReferenceStep, BLOCK_SIZE, createBlockwise8bitState, dequantize, dynamicMap, MIN_8BIT_SIZE, quantize, quantizeSigned,
} from '../src/rules/blockwise8bit.js';
import { adamReferenceStep } from '../src/rules/adam.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, seededNormal } from './helpers.js';

/** bitsandbytes' maps computed by real PyTorch (scripts/oracles/bnb_dynamic_maps.py). */
const TORCH_MAPS = JSON.parse(readFileSync(join(REPO_ROOT, 'test/oracles/bnb-dynamic-maps.json'), 'utf8')) as { signed: number[]; unsigned: number[] };

/** Distance in float32 ulps between two float32 values of the same sign. */
function ulps(a: number, b: number): number {
  const bits = new Int32Array(Float32Array.of(a, b).buffer);
  return Math.abs(bits[0]! - bits[1]!);
}

const S = dynamicMap(true);
const U = dynamicMap(false);
const HP = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

describe('dynamic maps (bitsandbytes create_dynamic_map)', () => {
  it('signed: 256 sorted values, index 127 is 0, index 255 is 1, minimum -0.99296875, smallest |x| > 0 is 5.5e-7', () => {
    assert.equal(S.length, 256);
    for (let i = 1; i < 256; i++) assert.ok(S[i - 1]! < S[i]!, `strictly increasing at ${i}`);
    assert.equal(S[127], 0);
    assert.equal(S[255], 1);
    assert.equal(S[0], Math.fround(-0.99296875));
    const smallest = Math.min(...Array.from(S).filter((x) => x !== 0).map(Math.abs));
    assert.equal(smallest, Math.fround(Math.fround(1e-6) * Math.fround(0.55)));
    assert.ok(Math.abs(smallest - 5.5e-7) < 1e-13);
  });
  it('unsigned: 256 sorted values, index 0 is 0, index 255 is 1, smallest > 0 is 3.25e-7', () => {
    assert.equal(U.length, 256);
    for (let i = 1; i < 256; i++) assert.ok(U[i - 1]! < U[i]!);
    assert.equal(U[0], 0);
    assert.equal(U[255], 1);
    assert.ok(Math.abs(U[1]! - 3.25e-7) < 1e-13);
  });
  it('both maps equal bitsandbytes\' as computed by PyTorch, within the 2 ulps that torch.linspace\'s rounding varies by', () => {
    for (const [name, ours, theirs] of [['signed', S, TORCH_MAPS.signed], ['unsigned', U, TORCH_MAPS.unsigned]] as const) {
      assert.equal(theirs.length, 256);
      let exact = 0;
      ours.forEach((x, i) => {
        // torch's vectorized linspace rounds some boundaries differently from the scalar formula, and
        // the midpoint carries it: at most 2 ulps (2.4e-7 relative), far below a code's gap.
        assert.ok(ulps(x, theirs[i]!) <= 2, `${name}[${i}]: ${x} vs torch ${theirs[i]}`);
        if (x === Math.fround(theirs[i]!)) exact++;
      });
      assert.ok(exact >= 180, `${name}: only ${exact} of 256 entries bit-identical`);
    }
    // The anchors are exact.
    for (const i of [0, 127, 128, 254, 255]) assert.equal(S[i], Math.fround(TORCH_MAPS.signed[i]!), `signed[${i}]`);
    for (const i of [0, 1, 255]) assert.equal(U[i], Math.fround(TORCH_MAPS.unsigned[i]!), `unsigned[${i}]`);
  });
  it('the signed map is symmetric apart from 1.0, and each decade holds 2^i values', () => {
    for (let i = 0; i < 127; i++) assert.equal(S[i], -S[254 - i]!);
    for (let i = 0; i < 7; i++) {
      const inDecade = Array.from(S).filter((x) => x > 0 && x < 1 && x >= 10 ** (i - 7) && x < 10 ** (i - 6)).length;
      assert.equal(inDecade, 2 ** i, `decade 1e${i - 7}..1e${i - 6}`);
    }
  });
});

describe('quantize / dequantize oracles', () => {
  it('S-quantize(0.3) -> 205 (0.30390625); S-quantize(0.05) -> 0.05078125; U-quantize(0.3) -> 155 (0.30039060)', () => {
    assert.equal(quantize(S, 0.3), 205);
    assert.ok(Math.abs(S[205]! - 0.30390625) < 3e-8); // one float32 ulp at 0.3
    assert.ok(Math.abs(S[quantize(S, 0.05)]! - 0.05078125) < 1e-8);
    assert.equal(quantize(U, 0.3), 155);
    assert.ok(Math.abs(U[155]! - 0.3003906) < 1e-7);
  });
  it('quantize returns the nearest code for any x in [-1, 1] (ties aside)', () => {
    const normal = seededNormal(2);
    for (let k = 0; k < 5000; k++) {
      const x = Math.max(-1, Math.min(1, normal() * 10 ** (normal() * 2 - 2)));
      const c = quantize(S, x);
      const best = Math.min(...Array.from(S, (y) => Math.abs(y - x)));
      assert.ok(Math.abs(S[c]! - x) <= best + 1e-12, `x = ${x}: code ${c} (${S[c]}) is not nearest`);
    }
  });
  it('dequantize multiplies by each block\'s absmax', () => {
    const codes = Uint8Array.from({ length: 2 * BLOCK_SIZE }, (_, i) => i % 256);
    const out = dequantize(S, codes, Float32Array.of(2, 0.5));
    assert.equal(out[255], 2);
    assert.equal(out[256 + 255], 0.5);
    assert.equal(out[300], Math.fround(S[300 - 256]! * 0.5));
  });
});

describe('8-bit AdamW step (a three-step trajectory against fp32 AdamW)', () => {
  it('n = 4096, three steps: step 1 equals fp32 AdamW, absmax and codes as given, p[0] = 0.99856228 after step 3', () => {
    assert.equal(MIN_8BIT_SIZE, 4096);
    const n = 4096;
    const p = new Float32Array(n).fill(1);
    const state = createBlockwise8bitState(n);
    assert.equal(state.absmax1.length, 16);
    const g1 = Float32Array.from({ length: n }, (_, i) => ((i % 256) + 1) / 256);
    adam8bitReferenceStep(HP, 1, p, g1, state, S, U);
    assert.ok(Math.abs(p[0]! - 0.99900001) < 1e-7, `${p[0]}`);
    assert.ok(Math.abs(state.absmax1[0]! - 0.1) < 1e-8);
    assert.ok(Math.abs(state.absmax2[0]! - 0.001) < 1e-9);
    assert.equal(state.codes1[0], 148);
    assert.equal(state.codes1[255], 255);
    adam8bitReferenceStep(HP, 2, p, new Float32Array(n).fill(0.5), state, S, U);
    adam8bitReferenceStep(HP, 3, p, Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1 : 0.25)), state, S, U);
    assert.ok(Math.abs(p[0]! - 0.99856228) < 1e-6, `${p[0]}`);
  });

  it('requantizes with m·(1/absmax) in float32, as bitsandbytes\' kernel and every backend do: an element where m/absmax rounds to another code', () => {
    // Step 1 from zero state with β1 = 0.5: m = g/2 exactly, in float64 and in float32 alike, so only the
    // requantization's form can differ. In block 0, g[168] = 2.4202828 sets absmax1 = 1.2101414 and
    // g[73] = −0.5143101 gives m/absmax = −0.2125000074 but m·fp32(1/absmax) = −0.2125000011, on the
    // two sides of the midpoint −0.2125 between codes 55 and 56 (found by searching seeded gradients).
    const n = MIN_8BIT_SIZE;
    const normal = seededNormal(7);
    const g = Float32Array.from({ length: n }, () => 0.2 * normal());
    g[73] = -0.5143101215362549;
    g[168] = 2.4202828407287598;
    const p = new Float32Array(n).fill(1);
    const state = createBlockwise8bitState(n);
    adam8bitReferenceStep({ ...HP, beta1: 0.5 }, 1, p, g, state, S, U);
    const absmax = state.absmax1[0]!;
    assert.equal(absmax, Math.fround(g[168] / 2));
    const m = g[73] / 2;
    assert.equal(quantizeSigned(S, m / absmax), 55, 'the division form gives code 55 (the test would not tell the forms apart otherwise)');
    assert.equal(quantizeSigned(S, Math.fround(m * Math.fround(1 / absmax))), 56);
    assert.equal(state.codes1[73], 56);
  });

  it('a non-finite gradient resets that element\'s moments and leaves its param, as bitsandbytes does', () => {
    const p = Float32Array.of(...Array.from({ length: 8 }, (_, i) => 1 + i / 10));
    const state = createBlockwise8bitState(8);
    adam8bitReferenceStep({ ...HP, weightDecay: 0.1 }, 1, p, [0.1, NaN, 0.2, Infinity, 0.1, 0.1, 0.1, 0.1], state, S, U);
    assert.equal(p[1], Math.fround(1.1));
    assert.equal(p[3], Math.fround(1.3));
    assert.equal(S[state.codes1[1]!], 0);
    assert.equal(U[state.codes2[3]!], 0);
    assert.ok(p[0]! < 1);
  });

  it('over 1000 steps on a random problem, dequantized states and params stay within budgets of fp32 AdamW', () => {
    // Budgets, as bitsandbytes' tests/test_optim.py writes them, measured in units of each block's
    // absmax (the scale 8-bit state can resolve). With β2 = 0.999 an increment (1 − β2)·g² smaller than
    // half a code's gap is lost at requantization, so v drifts from fp32's; these budgets record how far
    // (measured: m mean 0.018 / max 0.067, v mean 0.039 / max 0.14, params mean 0.036 / max 0.099).
    const BUDGET = { mMean: 0.03, mMax: 0.1, vMean: 0.06, vMax: 0.2, paramMean: 0.05, paramMax: 0.15 };
    const n = 8192;
    const normal = seededNormal(31);
    const target = Float64Array.from({ length: n }, () => normal());
    const p8 = new Float64Array(n), p32 = new Float64Array(n);
    const m32 = new Float64Array(n), v32 = new Float64Array(n);
    const state = createBlockwise8bitState(n);
    const hp = { ...HP, lr: 1e-3, weightDecay: 0.01 };
    const grad8 = new Float64Array(n), grad32 = new Float64Array(n);
    for (let t = 1; t <= 1000; t++) {
      // A noisy quadratic: g = (p − target) + noise, with the same noise for both optimizers.
      for (let i = 0; i < n; i++) {
        const noise = 0.1 * normal();
        grad8[i] = p8[i]! - target[i]! + noise;
        grad32[i] = p32[i]! - target[i]! + noise;
      }
      adam8bitReferenceStep(hp, t, p8, grad8, state, S, U);
      adamReferenceStep({ ...hp, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' }, t, p32, grad32, m32, v32);
    }
    const m8 = dequantize(S, state.codes1, state.absmax1);
    const v8 = dequantize(U, state.codes2, state.absmax2);
    const err = { mMean: 0, mMax: 0, vMean: 0, vMax: 0, paramMean: 0, paramMax: 0 };
    for (let i = 0; i < n; i++) {
      const block = Math.floor(i / BLOCK_SIZE);
      const em = Math.abs(m8[i]! - m32[i]!) / state.absmax1[block]!;
      const ev = Math.abs(v8[i]! - v32[i]!) / state.absmax2[block]!;
      const ep = Math.abs(p8[i]! - p32[i]!);
      err.mMean += em / n; err.vMean += ev / n; err.paramMean += ep / n;
      err.mMax = Math.max(err.mMax, em); err.vMax = Math.max(err.vMax, ev); err.paramMax = Math.max(err.paramMax, ep);
    }
    for (const key of Object.keys(BUDGET) as Array<keyof typeof BUDGET>) {
      assert.ok(err[key] < BUDGET[key], `${key}: ${err[key]} exceeds its budget ${BUDGET[key]}`);
    }
    // And the 8-bit run did learn: it is far closer to the targets than where it started.
    let start = 0, end = 0;
    for (let i = 0; i < n; i++) { start += Math.abs(target[i]!); end += Math.abs(p8[i]! - target[i]!); }
    assert.ok(end < 0.5 * start, `8-bit AdamW did not move toward the targets: ${end} vs ${start}`);
  });
});
