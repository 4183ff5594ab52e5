/**
 * The WebAssembly kernels of the variant families against the readable rules (backend 'js'):
 * quantization tables equal dQuantize for every float, and four steps of each family from random
 * data agree within a few ulps of each stored dtype: the presets' cases below, and every kernel
 * variant that both backends register (generated from the registry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AdamW, AdamW8bit, AdamW8bitKahan, StableAdamW, bf16ToFloat, createParam, dynamicMap, fromBf16, quantize, quantizeSigned, toBf16,
  type AdamOptimizer, type OptimizerOptions, type Param, type ParamStateDict,
} from '../src/index.js';
import { buildQuantizationTable, lookupCode } from '../src/backends/quantization-tables.js';
import { BACKENDS } from '../src/backends/registry.js';
import { describeVariant } from '../src/core/kernel-declarations.js';
import { reachableKernelVariants } from '../src/core/variants.js';
import { MIN_8BIT_SIZE } from '../src/rules/blockwise8bit.js';
import { seededNormal } from './helpers.js';

describe('quantization tables', () => {
  for (const signed of [true, false]) {
    const map = dynamicMap(signed);
    const table = buildQuantizationTable(map, signed);
    const reference = (x: number): number => (signed ? quantizeSigned(map, x) : quantize(map, x));
    const lookup = (x: number): number => lookupCode(table, new Uint32Array(Float32Array.of(x).buffer)[0]!);
    it(`${signed ? 'signed' : 'unsigned'}: table lookup equals dQuantize for every float32 in the map's range`, () => {
      fc.assert(fc.property(fc.float({ min: signed ? -1 : 0, max: 1, noNaN: true }), (x) => {
        assert.equal(lookup(x), reference(x), `x = ${x}`);
      }), { numRuns: 20000, seed: 17 });
      // Exactly at, and one float either side of, every midpoint between neighbouring codes.
      for (let c = 0; c < 255; c++) {
        const mid = Math.fround((map[c]! + map[c + 1]!) / 2);
        const bits = new Int32Array(Float32Array.of(mid).buffer)[0]!;
        for (const d of [-1, 0, 1]) {
          const x = new Float32Array(Int32Array.of(bits + d).buffer)[0]!;
          if (x >= (signed ? -1 : 0) && x <= 1) assert.equal(lookup(x), reference(x), `near midpoint ${c}: x = ${x}`);
        }
      }
    });
  }
});

type Make = (params: Param[], options: OptimizerOptions) => AdamOptimizer;
type FamilyCase = { name: string; make: Make; bf16: boolean; arena?: boolean; length?: number; seed?: number };
const FAMILIES: FamilyCase[] = [
  { name: 'AdamW8bit (fp32 params, staged)', make: (p, o) => new AdamW8bit(p, o), bf16: false },
  { name: 'AdamW8bit (fp32 params, in place)', make: (p, o) => new AdamW8bit(p, o), bf16: false, arena: true },
  { name: 'AdamW8bit (bf16 params, no Kahan)', make: (p, o) => new AdamW8bit(p, { ...o, kahan: false }), bf16: true },
  { name: 'AdamW8bitKahan', make: (p, o) => new AdamW8bitKahan(p, o), bf16: true },
  { name: 'AdamW8bitKahan stabilize', make: (p, o) => new AdamW8bitKahan(p, { ...o, stabilize: true }), bf16: true },
  { name: 'StableAdamW (fp32)', make: (p, o) => new StableAdamW(p, o), bf16: false },
  { name: 'StableAdamW (bf16, Kahan)', make: (p, o) => new StableAdamW(p, o), bf16: true },
  { name: 'AdamW (bf16, Kahan)', make: (p, o) => new AdamW(p, o), bf16: true },
  { name: 'AdamW (bf16, no Kahan)', make: (p, o) => new AdamW(p, { ...o, kahan: false }), bf16: true },
];

/**
 * Every kernel variant that backends 'cpu' and 'js' both register (src/backends/registry.ts), from
 * reachableKernelVariants' example options: a variant registered later is compared the moment it is.
 * Tensors reach 8-bit state from 4096 elements, so variants found on a smaller tensor keep its length.
 */
const registeredOn = (backend: string): Set<string> =>
  new Set(BACKENDS.registrations().filter((r) => r.backend === backend).map((r) => describeVariant(r.variant)));
const REGISTERED_CASES: FamilyCase[] = reachableKernelVariants()
  .filter(({ variant }) => registeredOn('cpu').has(describeVariant(variant)) && registeredOn('js').has(describeVariant(variant)))
  .map(({ variant, options, paramDtype, length, amsgrad }, index) => ({
    name: `registered variant ${describeVariant(variant)}`,
    // Seeded by position, not by the name's length: renaming a family must not change its inputs.
    seed: 100 + index,
    make: (p, o) => new AdamW(p, { ...options, amsgrad, ...o }),
    bf16: paramDtype === 'bf16',
    length: length < MIN_8BIT_SIZE ? length : undefined,
  }));

/** Values of a param buffer as numbers. */
const values = (a: ArrayLike<number>, bf16: boolean): number[] => (bf16 ? Array.from(fromBf16(a as Uint16Array)) : Array.from(a));

async function runFamily(family: FamilyCase, backend: 'cpu' | 'js'): Promise<{ data: number[]; state: ParamStateDict }> {
  const n = family.length ?? 9000; // 35 whole 256-element blocks and a partial one
  const normal = seededNormal(family.seed ?? family.name.length);
  const init = Float32Array.from({ length: n }, () => normal());
  const grads = [0.1, 1, 0.01, 3].map((scale) => Float32Array.from({ length: n }, () => scale * normal()));
  const p: Param = family.bf16
    ? { data: toBf16(init), dtype: 'bf16', grad: new Float32Array(n) }
    : family.arena && backend === 'cpu' ? createParam(init) : { data: init.slice(), grad: new Float32Array(n) };
  const opt = family.make([p], { backend, lr: 3e-3, weightDecay: 0.05 });
  for (const g of grads) {
    (p.grad as Float32Array).set(g);
    await opt.step();
  }
  const state = opt.stateDict().state[0]!;
  opt.destroy();
  return { data: values(p.data, family.bf16), state };
}

describe('variant kernels agree with the readable rules', () => {
  it('every variant registered on both cpu and js has a case here', () => {
    const both = [...registeredOn('cpu')].filter((v) => registeredOn('js').has(v));
    assert.deepEqual(REGISTERED_CASES.map((c) => c.name.replace('registered variant ', '')), both);
    assert.equal(both.length, 17);
  });
  for (const family of [...FAMILIES, ...REGISTERED_CASES]) {
    it(family.name, async () => {
      const cpu = await runFamily(family, 'cpu');
      const js = await runFamily(family, 'js');
      const n = js.data.length;
      // Params: fp32 kernels round each operation to fp32 where the rules use float64; bf16 params
      // may land one bf16 ulp apart.
      const tolerance = family.bf16 ? 2 ** -7 : 1e-6;
      let mismatched = 0;
      cpu.data.forEach((x, i) => {
        if (Math.abs(x - js.data[i]!) > tolerance * Math.max(1, Math.abs(js.data[i]!))) mismatched++;
      });
      assert.ok(mismatched <= n * 0.001, `${mismatched} of ${n} params differ by more than ${tolerance}`);
      // Kahan families: the effective weight θ + c is what the compensation preserves; compare it
      // tightly (the residual c alone is a difference of nearly equal numbers).
      const compensation = (s: ParamStateDict): Uint16Array | undefined => s.shift ?? s.kahan_comp;
      const cpuComp = compensation(cpu.state);
      const jsComp = compensation(js.state);
      if (cpuComp && jsComp) {
        let far = 0;
        for (let i = 0; i < n; i++) {
          const a = cpu.data[i]! + bf16ToFloat(cpuComp[i]!);
          const b = js.data[i]! + bf16ToFloat(jsComp[i]!);
          if (Math.abs(a - b) > 2e-5 * Math.max(1, Math.abs(b))) far++;
        }
        assert.ok(far <= n * 0.001, `θ + c: ${far} of ${n} differ by more than 2e-5`);
      }
      // Moments: the rules ('js') compute m, v and the absmax in float64, the kernel in float32. Both
      // requantize with m·(1/absmax), but an m within float32 rounding of a midpoint between two codes
      // can still land on the other side (2 and 3 of 262,144 codes after 5 steps on a seeded problem),
      // so codes may differ by one, in at most 0.2% of them. Kernel against kernel, codes are exact
      // (assertMatchesCpuKernel in helpers.ts).
      for (const [name, buffer] of Object.entries(cpu.state)) {
        if (name === 'step' || name === 'shift' || name === 'kahan_comp') continue;
        const a = buffer as ArrayLike<number>;
        const b = (js.state as unknown as Record<string, ArrayLike<number>>)[name]!;
        // A float moment is a sum of float32 terms: its rounding error scales with the terms, not with
        // the sum, so an m that cancels to near 0 is compared against the buffer's RMS, not itself.
        let sumOfSquares = 0;
        for (let i = 0; i < b.length; i++) sumOfSquares += Number(b[i]) ** 2;
        const rms = Math.sqrt(sumOfSquares / b.length);
        let differ = 0;
        for (let i = 0; i < a.length; i++) {
          const x = a[i]!;
          const y = b[i]!;
          const close = name.startsWith('state') ? Math.abs(x - y) <= 1
            : a instanceof Uint16Array ? Math.abs(bf16ToFloat(x) - bf16ToFloat(y)) <= 2 ** -7 * Math.abs(bf16ToFloat(y)) + 1e-30
              : Math.abs(x - y) <= 1e-5 * Math.max(Math.abs(y), rms, 1e-12);
          if (!close) differ++;
        }
        assert.ok(differ <= a.length * 0.002, `${name}: ${differ} of ${a.length} differ`);
      }
    });
  }
});
