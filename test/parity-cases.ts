/**
 * The parity table of issue #4: every preset (PRESET_CATALOG, each with its param dtype) × every
 * backend, against a float64 run of the readable rules, within a per-variant error budget; run by
 * test/parity.test.ts.
 *
 * The error of a run is the largest |θ − θ₆₄| over the tensor, divided by the largest distance the
 * float64 params moved, so budgets read as "fraction of the update": fp32 state is exact to float32
 * rounding; bf16 params are compared through their Kahan compensation (θ + c, the weight the sum
 * carries); 8-bit state carries its quantization error into every step.
 */
import {
  adam8bitReferenceStep, adamReferenceStep, AdamW, createBlockwise8bitState, createParam, fromBf16, PRESET_CATALOG, releaseParam, roundToBf16, toBf16,
  type AdamOptimizer, type Blockwise8bitState, type OptimizerOptions, type Param, type PresetEntry,
} from '../src/index.js';
import { debiasedReferenceStep } from '../src/rules/debiased.js';
import { BACKENDS } from '../src/backends/registry.js';
import { describeVariant, type KernelVariant } from '../src/core/kernel-declarations.js';
import { quantizationMaps } from '../src/core/quantization-maps.js';
import { kernelVariantOf, planTensor, reachableKernelVariants, type KernelVariantExample } from '../src/core/variants.js';
import { seededNormal } from './helpers.js';

/** Elements per tensor: over bitsandbytes' 4096 minimum, a partial last block and a partial last quad. */
export const PARITY_LENGTH = 4397;
const STEPS = 6;
const LR = 1e-2;


/** Error budgets by what the preset stores (fractions of the float64 update). */
export const BUDGET = { fp32: 1e-4, bf16Kahan: 5e-2, eightBit: 1e-3 } as const;

/** The preset's budget: bf16 params, 8-bit state or fp32 state. */
export function budgetOf(entry: PresetEntry): number {
  if (entry.paramDtype === 'bf16') return BUDGET.bf16Kahan;
  return /8bit/i.test(entry.className) ? BUDGET.eightBit : BUDGET.fp32;
}

/** Backends that run as more than one column: ONNX Runtime once per execution provider. */
const COLUMNS_OF_BACKEND: Record<string, Record<string, OptimizerOptions>> = {
  onnx: { 'onnx-cpu': { backend: 'onnx', executionProviders: ['cpu'] }, 'onnx-webgpu': { backend: 'onnx', executionProviders: ['webgpu'] } },
};

/**
 * The table's columns, one per registered backend (src/backends/registry.ts), so a backend is tested
 * the moment it registers; a backend with several execution providers has a column for each.
 */
export const PARITY_BACKENDS: Record<string, OptimizerOptions> = Object.fromEntries(BACKENDS.backendNames().flatMap((name) =>
  Object.entries(COLUMNS_OF_BACKEND[name] ?? { [name]: { backend: name as OptimizerOptions['backend'] } })));
export type ParityColumn = string;

/**
 * Where a run's params live: plain arrays, or shared memory (createParam's views of adamw-lab's
 * WebAssembly memory; bf16 params as views of a SharedArrayBuffer), which Dawn and onnxruntime-node
 * once could not take.
 */
export type ParityPlacement = 'plain' | 'shared';
/** The columns also run on params in shared memory. */
export const SHARED_PLACEMENT_COLUMNS: readonly ParityColumn[] = ['webgpu', 'onnx-cpu', 'onnx-webgpu'];

/** The seeded problem every run of a preset sees: initial params and STEPS gradients. */
function problem(seed: number, length = PARITY_LENGTH): { init: Float64Array; grads: Float64Array[] } {
  const normal = seededNormal(seed);
  const init = Float64Array.from({ length }, () => normal());
  // Gradients of mixed scale, so the 8-bit blocks see both large and tiny moments.
  const grads = Array.from({ length: STEPS }, () => Float64Array.from({ length }, (_, i) => normal() * (i % 7 === 0 ? 1 : 0.05)));
  return { init, grads };
}

/** The params the optimizer's weight stands for: θ, or θ + c with Kahan summation. */
async function effectiveWeights(opt: AdamOptimizer, param: Param): Promise<Float64Array> {
  const theta = param.dtype === 'bf16' ? Float64Array.from(fromBf16(param.data as Uint16Array)) : Float64Array.from(param.data);
  const state = (await opt.stateDictAsync()).state[0] as unknown as Record<string, Uint16Array | undefined>;
  const compensation = state.kahan_comp ?? state.shift;
  if (compensation) {
    const c = fromBf16(compensation);
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! + c[i]!;
  }
  return theta;
}

/** A param of `init`, placed as asked. */
function placedParam(init: Float64Array, bf16: boolean, placement: ParityPlacement): Param {
  if (!bf16) return placement === 'shared' ? createParam(init) : { data: Float32Array.from(init), grad: new Float32Array(PARITY_LENGTH) };
  if (placement === 'plain') return { data: toBf16(init), grad: new Float32Array(PARITY_LENGTH), dtype: 'bf16' };
  const data = new Uint16Array(new SharedArrayBuffer(2 * PARITY_LENGTH));
  data.set(toBf16(init));
  return { data, grad: new Float32Array(new SharedArrayBuffer(4 * PARITY_LENGTH)), dtype: 'bf16' };
}

/** Run `entry` on `backend`: the effective weights after STEPS steps, or the error it threw. */
export async function runPreset(entry: PresetEntry, column: ParityColumn, seed: number, placement: ParityPlacement = 'plain'): Promise<Float64Array> {
  const trajectory = problem(seed);
  const param = placedParam(trajectory.init, entry.paramDtype === 'bf16', placement);
  try {
    return (await runTrajectory(entry, PARITY_BACKENDS[column]!, trajectory, param)).weights;
  } finally {
    if (placement === 'shared' && entry.paramDtype !== 'bf16') releaseParam(param);
  }
}

/** What the runners need of a preset (a catalog entry, or a preset with options of its own). */
export type PresetLike = Pick<PresetEntry, 'className' | 'create' | 'paramDtype'>;


/** An initial param and the gradient of each step. */
export interface Trajectory {
  init: Float64Array;
  grads: Float64Array[];
}

/**
 * Step the preset's optimizer through `trajectory` with `options` (lr LR unless they say):
 * the effective weights after the last step and the final state of the param. `param` is where
 * the param lives (by default plain arrays holding `init`); `inspect` sees the optimizer after the last step.
 */
export async function runTrajectory(
  { create, paramDtype }: PresetLike, options: OptimizerOptions, { init, grads }: Trajectory,
  param: Param = paramDtype === 'bf16'
    ? { data: toBf16(init), grad: new Float32Array(init.length), dtype: 'bf16' }
    : { data: Float32Array.from(init), grad: new Float32Array(init.length) },
  inspect?: (opt: AdamOptimizer) => void,
): Promise<{ weights: Float64Array; state: Record<string, unknown> }> {
  const opt = create([param], { lr: LR, ...options });
  try {
    for (const g of grads) {
      (param.grad as Float32Array).set(g);
      await opt.step();
    }
    inspect?.(opt);
    return { weights: await effectiveWeights(opt, param), state: (await opt.stateDictAsync()).state[0] as unknown as Record<string, unknown> };
  } finally {
    opt.destroy();
  }
}

/** The float64 run of the same preset with the readable rules: the oracle. */
export function float64Reference(entry: PresetEntry, seed: number): { start: Float64Array; end: Float64Array } {
  return rulesReference(entry, problem(seed));
}

/**
 * The readable rules run through `trajectory` with the preset's hyperparameters (lr LR) in
 * float64 arithmetic. With `storedAs: 'dtype'` each value is rounded where a buffer stores it (the
 * fp32 grad, the param and its state in fp32 or bf16, as the backends do), so a moment overflows to
 * +∞ exactly where a stored one would; by default nothing is rounded. `start` and `end` are the effective weights (θ + shift).
 */
export function rulesReference(
  { className, create, paramDtype }: PresetLike, { init, grads }: Trajectory, storedAs: 'float64' | 'dtype' = 'float64',
): { start: Float64Array; end: Float64Array; eightBit: Blockwise8bitState } {
  const n = init.length;
  const placeholder: Param = paramDtype === 'bf16'
    ? { data: new Uint16Array(n), grad: null, dtype: 'bf16' }
    : { data: new Float32Array(n), grad: null };
  const opt = create([placeholder], { backend: 'js', lr: LR });
  const group = opt.paramGroups[0]!;
  const plan = planTensor('parity', 'param 0', opt.variantOptions, paramDtype, n, group.amsgrad);
  opt.destroy();
  const round = (dtype: 'fp32' | 'bf16'): ((x: number) => number) => (storedAs === 'float64' ? (x) => x : dtype === 'bf16' ? roundToBf16 : Math.fround);
  // The rule sees the params as stored at the start (bf16 params start rounded).
  const start = paramDtype === 'bf16' ? Float64Array.from(fromBf16(toBf16(init))) : Float64Array.from(init, Math.fround);
  const theta = start.slice();
  const hp = { lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay };
  const m = new Float64Array(n), v = new Float64Array(n);
  const vmax = plan.amsgrad ? new Float64Array(n) : undefined;
  // Kahan's compensation (optimi) or shift (AdamW8bitKahan), only where the rounded run has one.
  const compensation = storedAs === 'dtype' && plan.kahan ? new Float64Array(n) : undefined;
  const eightBit = createBlockwise8bitState(n);
  grads.forEach((exact, k) => {
    const t = k + 1;
    // The grad buffer is float32 too.
    const g = storedAs === 'dtype' ? Float64Array.from(exact, Math.fround) : exact;
    if (plan.family === 'adam') {
      adamReferenceStep({ ...hp, amsgrad: plan.amsgrad, maximize: false, weightDecayMode: className === 'Adam' ? 'l2' : 'decoupled' }, t, theta, g, m, v, vmax);
    } else if (plan.family === 'debiased') {
      debiasedReferenceStep({ ...hp, decoupleLr: false, maxLr: hp.lr, kahan: compensation !== undefined, stable: plan.stable }, t, theta, g, m, v,
        compensation, round(paramDtype), round(plan.momentDtype));
    } else {
      const { signed, unsigned } = quantizationMaps();
      adam8bitReferenceStep({ ...hp, stable: plan.stable }, t, theta, g, eightBit, signed, unsigned, compensation, round(paramDtype));
    }
  });
  const weights = (x: Float64Array): Float64Array => (compensation ? x.map((value, i) => value + compensation[i]!) : x);
  return { start, end: weights(theta), eightBit };
}

/** max |θ − θ₆₄| / max |θ₆₄ − θ₀|. */
export function parityError(weights: Float64Array, reference: { start: Float64Array; end: Float64Array }): number {
  let worst = 0, moved = 0;
  for (let i = 0; i < weights.length; i++) {
    worst = Math.max(worst, Math.abs(weights[i]! - reference.end[i]!));
    moved = Math.max(moved, Math.abs(reference.end[i]! - reference.start[i]!));
  }
  return worst / moved;
}

/** Each preset's seed, so every backend of a row sees the same problem. */
export const paritySeed = (entry: PresetEntry): number => 1000 + PRESET_CATALOG.indexOf(entry);

/**
 * A kernel variant registered for a backend that no preset row reaches (amsgrad, bf16 params without
 * Kahan summation, fp32 moments for a bf16 param under 4096 elements, …): a row of its own, run with
 * AdamW and the options of reachableKernelVariants' example.
 */
export interface VariantCase {
  label: string;
  example: KernelVariantExample;
  preset: PresetLike;
  seed: number;
}

/** The variant a preset row runs at PARITY_LENGTH. */
export function presetVariant(entry: PresetEntry): KernelVariant {
  const n = PARITY_LENGTH;
  const placeholder: Param = entry.paramDtype === 'bf16' ? { data: new Uint16Array(n), grad: null, dtype: 'bf16' } : { data: new Float32Array(n), grad: null };
  const opt = entry.create([placeholder], { backend: 'js' });
  try {
    return kernelVariantOf(planTensor('parity', 'param 0', opt.variantOptions, entry.paramDtype, n, opt.paramGroups[0]!.amsgrad));
  } finally {
    opt.destroy();
  }
}

/** The rows for variants no preset reaches, each with a seed of its own. */
export function variantCases(): VariantCase[] {
  const byPresets = new Set(PRESET_CATALOG.map((entry) => describeVariant(presetVariant(entry))));
  return reachableKernelVariants().filter((example) => !byPresets.has(describeVariant(example.variant))).map((example, k) => ({
    label: describeVariant(example.variant),
    example,
    seed: 2000 + k,
    preset: {
      className: 'AdamW',
      paramDtype: example.paramDtype,
      create: (params, options) => new AdamW(params, { ...example.options, amsgrad: example.amsgrad, ...options }),
    },
  }));
}

/** The variant a case runs, as planTensor makes it from the case's options (what the coverage check compares). */
export function caseVariant(c: VariantCase): KernelVariant {
  const { options, paramDtype, length, amsgrad } = c.example;
  return kernelVariantOf(planTensor('parity', 'param 0', options, paramDtype, length, amsgrad));
}

/** How a variant row is judged: the error of a run's weights, and its budget. */
export interface VariantOracle {
  budget: number;
  /** What the error counts: a fraction of the update, or bf16 ulps. */
  unit: string;
  error(weights: Float64Array): number;
}

/** Distance in bf16 ulps: bf16 keeps 8 significant bits, so an ulp of x is 2^(⌊log₂|x|⌋ − 7). */
const bf16Ulps = (x: number, reference: number): number =>
  (x === reference ? 0 : Math.abs(x - reference) / 2 ** (Math.floor(Math.log2(Math.abs(reference))) - 7));

/**
 * The oracle of a variant row. bf16 params without Kahan summation are bf16 after every step, so the
 * float64 rules round where the backends store (rulesReference with 'dtype'); a backend may still land
 * one bf16 ulp away where float32 arithmetic puts a value on the other side of a rounding midpoint,
 * in at most 0.1% of the weights (more counts as failing). The other rows: the float64 rules and the
 * presets' budgets (8-bit state, bf16 with Kahan, fp32).
 */
export function variantOracle(c: VariantCase): VariantOracle {
  const v = c.example.variant;
  const trajectory = problem(c.seed, c.example.length);
  if (v.paramDtype === 'bf16' && !v.kahan) {
    const reference = rulesReference(c.preset, trajectory, 'dtype');
    return {
      budget: 1,
      unit: 'bf16 ulps',
      error: (weights) => {
        const ulps = Array.from(weights, (x, i) => bf16Ulps(x, reference.end[i]!));
        return ulps.filter((u) => u > 0).length > weights.length * 0.001 ? Infinity : Math.max(...ulps);
      },
    };
  }
  const reference = rulesReference(c.preset, trajectory);
  const budget = v.paramDtype === 'bf16' ? BUDGET.bf16Kahan : v.family === 'blockwise8bit' ? BUDGET.eightBit : BUDGET.fp32;
  return { budget, unit: 'of the update', error: (weights) => parityError(weights, reference) };
}

/** Run a variant row on a column: the effective weights after STEPS steps. */
export async function runVariantCase(c: VariantCase, column: ParityColumn): Promise<Float64Array> {
  return (await runTrajectory(c.preset, PARITY_BACKENDS[column]!, problem(c.seed, c.example.length))).weights;
}
