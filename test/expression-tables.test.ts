/**
 * The expression tables of kernels/expressions/ are what the kernels compute. Each table is
 * evaluated here by its own interpreter, in float32 (every operation rounded to float32, `round` to
 * bf16 by src/rules/bf16.ts), with the loops of the kernels written out plainly; three steps of each
 * family on seeded data must then equal the WebAssembly kernel's and the ONNX graph's results bit for
 * bit. A generator that writes a row wrongly, or a kernel that passes a row the wrong argument, fails
 * here. (Between backends, the parity tests hold the results to the float64 rules.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adamTable } from '../kernels/expressions/adam.js';
import { bf16Table } from '../kernels/expressions/bf16.js';
import { blockwise8bitTable } from '../kernels/expressions/blockwise8bit.js';
import type { Expr, ExpressionTable, Flag } from '../kernels/expressions/expression.js';
import { debiasedTable } from '../kernels/expressions/debiased.js';
import { stableTable } from '../kernels/expressions/stable.js';
import {
  Adam, AdamW, BLOCK_SIZE, adam8bitStepScalars, adamStepScalars, dynamicMap, floatToBf16, fromBf16, quantize, quantizeSigned,
  roundToBf16, toBf16, type AdamOptimizer, type OptimizerOptions, type Param,
} from '../src/index.js';
import type { AdamHyperparameters } from '../src/rules/adam.js';
import { debiasedStepScalars, stabilizedLr } from '../src/rules/debiased.js';
import { seededNormal, seededRandom } from './helpers.js';

const f32 = Math.fround;

/** Evaluates a table's rows in float32; each row's value is kept under its name for later rows. */
class Interpreter {
  env: Record<string, number> = {};
  constructor(private readonly table: ExpressionTable, private readonly flags: Record<string, boolean>) {}

  /** Row `name` on the current leaves, as its buffer stores it when the row is `stored`. */
  row(name: string): number {
    const row = this.table.get(name);
    let value = this.evaluate(row.expr);
    if (row.stored !== undefined) value = this.round(value, row.stored);
    this.env[name] = value;
    return value;
  }

  private round(x: number, to: Flag): number {
    return to === true || this.flags[to] ? roundToBf16(x) : f32(x);
  }

  private evaluate(e: Expr): number {
    switch (e.kind) {
      case 'leaf': {
        const value = this.env[e.name];
        assert.ok(value !== undefined, `${this.table.family}: leaf ${e.name} has no value`);
        return value;
      }
      // A correctly rounded float64 result of float32 operands, rounded to float32, is the float32 result.
      case 'add': return f32(this.evaluate(e.a) + this.evaluate(e.b));
      case 'sub': return f32(this.evaluate(e.a) - this.evaluate(e.b));
      case 'mul': return f32(this.evaluate(e.a) * this.evaluate(e.b));
      case 'div': return f32(this.evaluate(e.a) / this.evaluate(e.b));
      case 'sqrt': return f32(Math.sqrt(this.evaluate(e.a)));
      case 'maxNan': return Math.max(this.evaluate(e.a), this.evaluate(e.b)); // NaN when either is
      case 'max': return Math.max(this.evaluate(e.a), this.evaluate(e.b)); // as wasm's f32.max
      case 'round': return this.round(this.evaluate(e.a), e.to);
      // u32 bits
      case 'bitsAdd': return (this.evaluate(e.a) + this.evaluate(e.b)) >>> 0;
      case 'and': return (this.evaluate(e.a) & this.evaluate(e.b)) >>> 0;
      case 'or': return (this.evaluate(e.a) | this.evaluate(e.b)) >>> 0;
      case 'shiftRight': return this.evaluate(e.a) >>> e.by;
      case 'bitsConstant': return e.value;
    }
  }
}

/** Step scalars as a kernel receives them: each rounded to float32. */
const asF32 = (scalars: object): Record<string, number> => Object.fromEntries(Object.entries(scalars).map(([k, v]) => [k, f32(v as number)]));

/** Indexes where two arrays differ (NaN equals NaN; +0 and −0 differ). */
function differing(actual: ArrayLike<number>, expected: ArrayLike<number>): number[] {
  assert.equal(actual.length, expected.length);
  const out: number[] = [];
  for (let i = 0; i < expected.length; i++) if (!Object.is(actual[i], expected[i])) out.push(i);
  return out;
}

const assertSame = (what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void => {
  const bad = differing(actual, expected);
  const first = bad[0];
  assert.equal(bad.length, 0, first === undefined ? '' : `${what}: ${bad.length} elements differ; first [${first}]: got ${actual[first]}, table ${expected[first]}`);
};

/** The backends whose float32 arithmetic is IEEE's: WebAssembly, and ONNX Runtime's CPU provider. */
const BACKENDS: Array<{ label: string; options: OptimizerOptions }> = [
  { label: 'cpu (WebAssembly)', options: { backend: 'cpu' } },
  { label: 'onnx (cpu provider)', options: { backend: 'onnx', executionProviders: ['cpu'] } },
];
const STEPS = 3;
const HP = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.05 };

/** Seeded gradients, one array per step; a few elements tiny, large or zero. */
function gradients(n: number, seed: number): Float32Array[] {
  const normal = seededNormal(seed);
  return Array.from({ length: STEPS }, () => Float32Array.from({ length: n }, (_, i) => normal() * (i % 7 === 0 ? 1e-4 : i % 11 === 0 ? 30 : 1) * (i % 13 === 0 ? 0 : 1)));
}

/** Run `make`'s optimizer for the gradients and return its param and state dict. */
async function runOptimizer(param: Param, grads: readonly Float32Array[], make: (params: Param[]) => AdamOptimizer) {
  const opt = make([param]);
  for (const g of grads) {
    if (param.grad instanceof Float32Array) param.grad.set(g);
    await opt.step();
  }
  const state = opt.stateDict().state[0]!;
  opt.destroy();
  return state;
}

describe('the bf16 table rounds as src/rules/bf16.ts floatToBf16 does', () => {
  it('on seeded random float32 bit patterns and on the edges: ties, the largest finite values, ±0, ±∞, NaNs', () => {
    const random = seededRandom(41);
    const patterns = [
      0, 0x80000000, 0x7f800000, 0xff800000, 0x7f7fffff, 0x7f7f7fff, 0x7f7f8000, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x00008000, 0x00018000,
      0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff, 0xffffffff,
      ...Array.from({ length: 100_000 }, () => Math.floor(random() * 2 ** 32)),
    ];
    const t = new Interpreter(bf16Table, {});
    const asFloat = new Float32Array(1), asBits = new Uint32Array(asFloat.buffer);
    for (const pattern of patterns) {
      t.env = { bits: pattern };
      // The kernels' own part: the NaN test picks the row, and the result keeps 16 bits.
      const nan = (pattern & 0x7fffffff) >>> 0 > 0x7f800000;
      const got = (nan ? t.row('quietNanBits') : t.row('roundedBits')) & 0xffff;
      asBits[0] = pattern;
      assert.equal(got, floatToBf16(asFloat[0]!), `bits 0x${pattern.toString(16)}`);
    }
  });
});

describe('expression tables, interpreted in float32, equal the kernels bit for bit', () => {
  for (const { label: backend, options: backendOptions } of BACKENDS) {
    for (const variant of [
      { label: 'AdamW, maximize', amsgrad: false, maximize: true, l2: false },
      { label: 'Adam with coupled L2 and amsgrad, a NaN gradient', amsgrad: true, maximize: false, l2: true },
    ]) {
      it(`adam family: ${variant.label} on ${backend}`, async () => {
        const n = 1_003; // not a multiple of 4: the wasm kernel's scalar tail runs too
        const grads = gradients(n, 11);
        if (variant.amsgrad) grads[1]![5] = NaN;
        const init = Float32Array.from({ length: n }, seededNormal(12));
        const options: OptimizerOptions = { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay, amsgrad: variant.amsgrad, maximize: variant.maximize, ...backendOptions };
        const param: Param = { data: init.slice(), grad: new Float32Array(n) };
        const state = await runOptimizer(param, grads, (ps) => (variant.l2 ? new Adam(ps, options) : new AdamW(ps, options)));

        const hp: AdamHyperparameters = { ...HP, amsgrad: variant.amsgrad, maximize: variant.maximize, weightDecayMode: variant.l2 ? 'l2' : 'decoupled' };
        const p = init.slice(), m = new Float32Array(n), v = new Float32Array(n), vMax = new Float32Array(n);
        const t = new Interpreter(adamTable, {});
        for (const [k, grad] of grads.entries()) {
          const scalars = asF32(adamStepScalars(hp, k + 1));
          for (let i = 0; i < n; i++) {
            t.env = { ...scalars, param: p[i]!, grad: grad[i]!, m: m[i]!, v: v[i]!, vMax: vMax[i]! };
            t.row('decayedParam');
            t.row('gradient');
            m[i] = t.row('firstMoment');
            v[i] = t.env.vUsed = t.row('secondMoment');
            if (variant.amsgrad) vMax[i] = t.env.vUsed = t.row('maxSecondMoment');
            t.row('denominator');
            p[i] = t.row('newParam');
          }
        }
        assertSame('param', param.data, p);
        assertSame('exp_avg', state.exp_avg as Float32Array, m);
        assertSame('exp_avg_sq', state.exp_avg_sq as Float32Array, v);
        if (variant.amsgrad) {
          assertSame('max_exp_avg_sq', state.max_exp_avg_sq as Float32Array, vMax);
          assert.ok(Number.isNaN(vMax[5]!) && Number.isNaN(p[5]!), 'the NaN gradient reaches v_max and θ');
        }
      });
    }

    for (const kahan of [true, false]) {
      it(`debiased family: AdamW on bf16 params and moments${kahan ? ', Kahan compensation' : ''} on ${backend}`, async () => {
        const n = 1_001;
        const grads = gradients(n, 21);
        const init = toBf16(Float32Array.from({ length: n }, seededNormal(22)));
        const param: Param = { data: init.slice(), grad: new Float32Array(n), dtype: 'bf16' };
        const state = await runOptimizer(param, grads, (ps) => new AdamW(ps, { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay, kahan, ...backendOptions }));

        const p = fromBf16(init), m = new Float32Array(n), v = new Float32Array(n), c = new Float32Array(n);
        const t = new Interpreter(debiasedTable, { paramBf16: true, momentsBf16: true });
        for (const [k, grad] of grads.entries()) {
          const scalars = asF32(debiasedStepScalars(HP, k + 1));
          for (let i = 0; i < n; i++) {
            t.env = { ...scalars, param: p[i]!, grad: grad[i]!, m: m[i]!, v: v[i]!, c: c[i]! };
            t.row('gradient');
            m[i] = t.row('firstMoment');
            v[i] = t.row('secondMoment');
            // the kernels skip the decay (and its rounding) when it is exactly 1
            if (scalars.decay !== 1) t.row('decayedParam');
            else t.env.decayedParam = p[i]!;
            t.row('paramUpdate');
            if (kahan) {
              t.row('compensatedUpdate');
              p[i] = t.row('kahanParam');
              c[i] = t.row('compensation');
            } else {
              p[i] = t.row('newParam');
            }
          }
        }
        assertSame('param', fromBf16(param.data as Uint16Array), p);
        assertSame('exp_avg', fromBf16(state.exp_avg as Uint16Array), m);
        assertSame('exp_avg_sq', fromBf16(state.exp_avg_sq as Uint16Array), v);
        if (kahan) {
          assertSame('kahan_comp', fromBf16(state.kahan_comp as Uint16Array), c);
          assert.ok(c.some((x) => x !== 0), 'the compensation carries something');
        }
      });
    }

    for (const kahan of [false, true]) {
      it(`blockwise8bit family: AdamW8bit${kahan ? 'Kahan on bf16 params' : ''} on ${backend}`, async () => {
        const n = 4_096 + 300; // a partial last block
        const grads = gradients(n, 31);
        const init = Float32Array.from({ length: n }, seededNormal(32));
        const param: Param = kahan ? { data: toBf16(init), grad: new Float32Array(n), dtype: 'bf16' } : { data: init.slice(), grad: new Float32Array(n) };
        const state = await runOptimizer(param, grads, (ps) => new AdamW(ps, { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay, stateDtype: '8bit', kahan, ...backendOptions }));

        const signed = dynamicMap(true), unsigned = dynamicMap(false);
        const blocks = Math.ceil(n / BLOCK_SIZE);
        const p = kahan ? fromBf16(toBf16(init)) : init.slice(), shift = new Float32Array(n);
        const codes1 = new Uint8Array(n), codes2 = new Uint8Array(n), absmax1 = new Float32Array(blocks), absmax2 = new Float32Array(blocks);
        // State starts at code 0 with absmax 0, which dequantizes to 0 whatever the code's value.
        const t = new Interpreter(blockwise8bitTable, { paramBf16: kahan });
        for (const [k, grad] of grads.entries()) {
          const scalars = asF32(adam8bitStepScalars(HP, k + 1));
          for (let block = 0; block < blocks; block++) {
            const start = block * BLOCK_SIZE, end = Math.min(start + BLOCK_SIZE, n);
            const m = new Float32Array(end - start), v = new Float32Array(end - start);
            for (let i = start; i < end; i++) {
              t.env = { ...scalars, grad: grad[i]!, mappedFirst: signed[codes1[i]!]!, mappedSecond: unsigned[codes2[i]!]!, absmax1: absmax1[block]!, absmax2: absmax2[block]! };
              t.row('gradient');
              m[i - start] = t.env.m = t.row('firstMoment');
              v[i - start] = t.env.v = t.row('secondMoment');
              t.env.param = p[i]!;
              t.env.shift = shift[i]!;
              t.row('decayedParam');
              t.row('step');
              if (kahan) {
                t.row('shiftedUpdate');
                p[i] = t.row('kahanParam');
                shift[i] = t.row('newShift');
              } else {
                p[i] = t.row('newParam');
              }
            }
            absmax1[block] = m.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
            absmax2[block] = v.reduce((a, x) => Math.max(a, x), 0);
            const inverse1 = absmax1[block]! > 0 ? f32(1 / absmax1[block]!) : 1, inverse2 = absmax2[block]! > 0 ? f32(1 / absmax2[block]!) : 1;
            for (let i = start; i < end; i++) {
              t.env = { moment: m[i - start]!, inverseAbsmax: inverse1 };
              codes1[i] = quantizeSigned(signed, t.row('normalized'));
              t.env = { moment: v[i - start]!, inverseAbsmax: inverse2 };
              codes2[i] = quantize(unsigned, t.row('normalized'));
            }
          }
        }
        assertSame('param', kahan ? fromBf16(param.data as Uint16Array) : param.data, p);
        assertSame('state1', state.state1 as Uint8Array, codes1);
        assertSame('state2', state.state2 as Uint8Array, codes2);
        assertSame('absmax1', state.absmax1 as Float32Array, absmax1);
        assertSame('absmax2', state.absmax2 as Float32Array, absmax2);
        if (kahan) assertSame('shift', fromBf16(state.shift as Uint16Array), shift);
      });
    }
  }

  // ONNX sums the RMS terms in float32 (ReduceSum), the WebAssembly backend in float64: the lr then
  // differs in its last bits, so this case runs on the cpu backend only.
  it('debiased and stable families: StableAdamW on fp32 params on cpu (WebAssembly), the RMS terms summed in float64', async () => {
    const n = 1_001;
    // Gradients that grow tenfold each step, so g² outruns v̂ and the RMS exceeds 1.
    const grads = gradients(n, 51).map((g, k) => g.map((x) => x * 10 ** k));
    const init = Float32Array.from({ length: n }, seededNormal(52));
    const param: Param = { data: init.slice(), grad: new Float32Array(n) };
    const state = await runOptimizer(param, grads, (ps) => new AdamW(ps, { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay, stable: true, backend: 'cpu' }));

    const p = init.slice(), m = new Float32Array(n), v = new Float32Array(n);
    const t = new Interpreter(debiasedTable, { paramBf16: false, momentsBf16: false });
    const stable = new Interpreter(stableTable, {});
    const scaled: boolean[] = [];
    for (const [k, grad] of grads.entries()) {
      const moments = asF32(debiasedStepScalars(HP, k + 1));
      let sum = 0;
      for (let i = 0; i < n; i++) {
        t.env = { ...moments, grad: grad[i]!, m: m[i]!, v: v[i]! };
        const g = t.row('gradient');
        m[i] = t.row('firstMoment');
        v[i] = t.row('secondMoment');
        stable.env = { g, vHat: v[i]!, epsSquared: f32(HP.eps * HP.eps) };
        stable.row('ratio');
        sum += stable.row('term');
      }
      const { lr, rms } = stabilizedLr(HP.lr, sum, n);
      scaled.push(rms > 1);
      const scalars = asF32(debiasedStepScalars(HP, k + 1, lr));
      for (let i = 0; i < n; i++) {
        t.env = { ...scalars, param: p[i]!, firstMoment: m[i]!, secondMoment: v[i]! };
        t.row('decayedParam');
        t.row('paramUpdate');
        p[i] = t.row('newParam');
      }
    }
    assert.ok(scaled.some(Boolean), 'the RMS exceeds 1 in some step, so the lr is scaled');
    assertSame('param', param.data, p);
    assertSame('exp_avg', state.exp_avg as Float32Array, m);
    assertSame('exp_avg_sq', state.exp_avg_sq as Float32Array, v);
  });
});
