/**
 * 8-bit blockwise optimizer state, as bitsandbytes stores it for AdamW8bit, written to be read
 * (bitsandbytes `functional.py` create_dynamic_map, `csrc/kernels.cu` dQuantize and the blockwise
 * 8-bit Adam kernel; the docs' Algorithms and sources page, `docs/algorithms.mdx`).
 *
 * Each of m and v is kept as one uint8 code per element into a 256-entry map, plus one float32
 * absmax per block of 256 elements: value = map[code]·absmax[block]. That is 2 + 8/256 ≈ 2.03 bytes
 * per parameter instead of fp32's 8.
 * @module
 */
import type { CoreHyperparameters, TensorStepReport } from './adam.js';
import { stabilizationTerm, stabilizedLr } from './debiased.js';

/** Elements per absmax block. */
export const BLOCK_SIZE = 256;
/** Tensors with fewer elements than this keep fp32 state (bitsandbytes' `min_8bit_size`). */
export const MIN_8BIT_SIZE = 4096;

/** torch.linspace(start, end, steps) in float32, with the symmetric formula of PyTorch's CPU kernel. */
function linspaceF32(start: number, end: number, steps: number): number[] {
  const f = Math.fround;
  const s = f(start), e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < halfway ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)))));
}

/**
 * bitsandbytes' dynamic quantization map (7 exponent bits, 8 bits in all): for i = 0…6 the midpoints
 * of `linspace(0.1, 1, Nᵢ)`, scaled by 10^(i−6); signed: Nᵢ = 2^i + 1 and each value also negated;
 * unsigned: Nᵢ = 2^(i+1) + 1. Then 0 and 1, sorted: 256 float32 values. Dense near 0, where most of
 * an optimizer's moments live.
 */
export function dynamicMap(signed: boolean): Float32Array {
  const f = Math.fround;
  const values: number[] = [];
  for (let i = 0; i < 7; i++) {
    const boundaries = linspaceF32(0.1, 1, signed ? 2 ** i + 1 : 2 ** (i + 1) + 1);
    const scale = f(10 ** (i - 6));
    for (let k = 0; k + 1 < boundaries.length; k++) {
      const mean = f(f(boundaries[k]! + boundaries[k + 1]!) / 2);
      values.push(f(scale * mean));
      if (signed) values.push(f(-scale * mean));
    }
  }
  values.push(0, 1);
  return Float32Array.from(values.sort((a, b) => a - b));
}

/**
 * The code of `x` (already divided by its block's absmax, so in [−1, 1]): bitsandbytes' dQuantize, a
 * 7-step binary search from index 127 followed by the midpoint rule between the two neighbours.
 */
export function quantize(map: Float32Array, x: number): number {
  let pivot = 127;
  let upperPivot = 255;
  let lowerPivot = 0;
  let lower = -1;
  let upper = 1;
  let value = map[pivot]!;
  for (let step = 64; step > 0; step >>= 1) {
    if (x > value) {
      lowerPivot = pivot;
      lower = value;
      pivot += step;
    } else {
      upperPivot = pivot;
      upper = value;
      pivot -= step;
    }
    value = map[pivot]!;
  }
  if (upperPivot === 255) upper = map[upperPivot]!;
  if (lowerPivot === 0) lower = map[lowerPivot]!;
  if (x > value) return x > Math.fround((upper + value) * 0.5) ? upperPivot : pivot;
  return x < Math.fround((lower + value) * 0.5) ? lowerPivot : pivot;
}

/** 8-bit state of one tensor: codes of m and v, and one absmax of each per block. */
export interface Blockwise8bitState {
  /** 8-bit codes of m, into the signed dynamic map. */
  codes1: Uint8Array;
  /** 8-bit codes of v, into the unsigned dynamic map. */
  codes2: Uint8Array;
  /** Per-block absmax of m. */
  absmax1: Float32Array;
  /** Per-block absmax of v. */
  absmax2: Float32Array;
}

/** Empty 8-bit state for `length` elements: codes 0 and absmax 0, so every value dequantizes to 0. */
export function createBlockwise8bitState(length: number): Blockwise8bitState {
  const blocks = Math.ceil(length / BLOCK_SIZE);
  return { codes1: new Uint8Array(length), codes2: new Uint8Array(length), absmax1: new Float32Array(blocks), absmax2: new Float32Array(blocks) };
}

/** Dequantize one state: value[i] = map[code[i]]·absmax[⌊i/256⌋]. */
export function dequantize(map: Float32Array, codes: Uint8Array, absmax: Float32Array, out = new Float32Array(codes.length)): Float32Array {
  for (let i = 0; i < codes.length; i++) out[i] = Math.fround(map[codes[i]!]! * absmax[Math.floor(i / BLOCK_SIZE)]!);
  return out;
}

/** C's signbit: true for negative numbers and for −0. */
const signbit = (x: number): boolean => x < 0 || Object.is(x, -0);

/**
 * The code of m/absmax in the signed map, kept on m's side of zero: bitsandbytes moves one code
 * toward x when the nearest code's sign differs from x's, so a momentum never flips sign by rounding.
 * (The nearest code of a negative x is never positive, so this only sends x ∈ [−2.75e−7, −0] from
 * code 127, which is +0, to 126.)
 */
export function quantizeSigned(map: Float32Array, x: number): number {
  const code = quantize(map, x);
  return signbit(map[code]!) !== signbit(x) ? code + (x > 0 ? 1 : -1) : code;
}

/** Hyperparameters of the 8-bit AdamW step. */
export interface Adam8bitHyperparameters extends CoreHyperparameters {
  /** Ascend instead of descend (default false). */
  maximize?: boolean;
  /** StableAdamW scaling, lr / max(1, RMS(g/√v̂)), from the updated, bias-corrected v (default false). */
  stable?: boolean;
}

/** No rounding: the param's own storage (fp32 buffers round on store by themselves). */
const exact = (x: number): number => x;

/**
 * One AdamW step at step t with 8-bit blockwise state, in place. `signedMap` holds m, `unsignedMap` v.
 * Per block: dequantize, update the moments, take the new absmax, step the params, requantize.
 * A non-finite gradient resets that element's moments to 0 and leaves its param untouched, as
 * bitsandbytes does. A finite gradient whose v overflows float32 also resets them (its param only
 * decays), where bitsandbytes would make the block's absmax +∞ and the rest of the block NaN.
 *
 * With a `shift` buffer this is AdamW8bitKahan (diffusion-pipe) as intended: the whole change of θ —
 * the Adam step and the decay −η_t·λ·θ — is added to `shift`, θ moves by what its dtype can hold
 * (`storeParam`), and `shift` keeps the rest. diffusion-pipe's code
 * (`optimizers/adamw_8bit.py`) differs in three ways: it decays `shift` instead of θ, so the weights are never decayed; its `stabilize` reads the raw
 * 8-bit codes of state2 as if they were v, before the update; and it reads config keys that
 * bitsandbytes 0.50 removed.
 */
export function adam8bitReferenceStep(
  hp: Adam8bitHyperparameters,
  t: number,
  param: Float32Array | Float64Array,
  grad: ArrayLike<number>,
  state: Blockwise8bitState,
  signedMap: Float32Array,
  unsignedMap: Float32Array,
  shift?: Float64Array,
  storeParam: (x: number) => number = exact,
): TensorStepReport {
  const biasCorrection1 = 1 - hp.beta1 ** t;
  const biasCorrection2 = 1 - hp.beta2 ** t;
  const sqrtBiasCorrection2 = Math.sqrt(biasCorrection2);
  const sign = hp.maximize ? -1 : 1;
  const s1 = new Float64Array(BLOCK_SIZE);
  const s2 = new Float64Array(BLOCK_SIZE);
  /**
   * $m = \beta_1 m + (1-\beta_1)g$, $v = \beta_2 v + (1-\beta_2)g^2$ from the dequantized state of one block;
   * returns the new absmaxes. A v past float32's range is +∞, as in every float32 kernel (and PyTorch):
   * that element takes no part in the absmax, so one huge finite g cannot make the block's absmax2
   * +∞ and every other element's v NaN (0·∞) at the next step. bitsandbytes overflows there.
   */
  const updateMoments = (start: number, end: number, block: number): [number, number] => {
    let absmax1 = 0;
    let absmax2 = 0;
    for (let i = start; i < end; i++) {
      const g = sign * grad[i]!;
      let m = 0;
      let v = 0;
      if (Number.isFinite(g)) {
        m = hp.beta1 * signedMap[state.codes1[i]!]! * state.absmax1[block]! + (1 - hp.beta1) * g;
        v = hp.beta2 * unsignedMap[state.codes2[i]!]! * state.absmax2[block]! + (1 - hp.beta2) * g * g;
      }
      s1[i - start] = m;
      s2[i - start] = Math.fround(v) === Infinity ? Infinity : v;
      if (s2[i - start] !== Infinity) {
        absmax1 = Math.max(absmax1, Math.abs(m));
        absmax2 = Math.max(absmax2, v);
      }
    }
    return [absmax1, absmax2];
  };
  // StableAdamW needs every block's new v before any param moves: a first pass that only reads.
  // $\text{rms} = \sqrt{\operatorname{mean}(g^2/\max(\hat v, \epsilon^2))}$ with $\hat v = v/(1-\beta_2^t)$
  let rms = 1;
  let lr = hp.lr;
  if (hp.stable) {
    let sum = 0;
    for (let start = 0, block = 0; start < param.length; start += BLOCK_SIZE, block++) {
      const end = Math.min(start + BLOCK_SIZE, param.length);
      updateMoments(start, end, block);
      for (let i = start; i < end; i++) {
        const g = grad[i]!;
        // An overflowed v (+∞) gives the term 0, as in a float32 kernel.
        if (Number.isFinite(g)) sum += stabilizationTerm(g, s2[i - start]! / biasCorrection2, hp.eps);
      }
    }
    ({ rms, lr } = stabilizedLr(hp.lr, sum, param.length));
  }
  for (let start = 0, block = 0; start < param.length; start += BLOCK_SIZE, block++) {
    const end = Math.min(start + BLOCK_SIZE, param.length);
    const [absmax1, absmax2] = updateMoments(start, end, block);
    // The new absmax of the block, kept in float32.
    state.absmax1[block] = absmax1;
    state.absmax2[block] = absmax2;
    // Requantization multiplies by the float32 reciprocal of the new absmax, x·(1/absmax), as
    // bitsandbytes' kernel and every kernel here do (not x/absmax, which can round to another code).
    const inverse1 = state.absmax1[block]! > 0 ? Math.fround(1 / state.absmax1[block]!) : 1;
    const inverse2 = state.absmax2[block]! > 0 ? Math.fround(1 / state.absmax2[block]!) : 1;
    for (let i = start; i < end; i++) {
      // Where v overflowed, m and v reset to 0 and θ only decays: the step is 0/(0 + ε) = 0, as fp32
      // PyTorch's m/√∞ = 0 (its v stays +∞; an 8-bit code cannot hold +∞).
      const overflowed = s2[i - start] === Infinity;
      const m = overflowed ? 0 : s1[i - start]!;
      const v = overflowed ? 0 : s2[i - start]!;
      if (Number.isFinite(grad[i]!)) {
        // $\Delta\theta = -\eta_t\lambda\theta - \frac{\eta_t}{1-\beta_1^t}\cdot\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t}+\epsilon}$
        // (decay first, in PyTorch's order; bitsandbytes' CUDA kernel decays after: issue #2010)
        const theta = param[i]!;
        const decayed = theta * (1 - lr * hp.weightDecay);
        const step = (lr / biasCorrection1) * (m / (Math.sqrt(v) / sqrtBiasCorrection2 + hp.eps));
        if (shift) {
          // Kahan: shift ← shift + Δθ; θ' = θ + shift (rounded to θ's dtype); shift ← shift + (θ − θ')
          const c = storeParam(shift[i]! + (decayed - theta) - step);
          const next = storeParam(theta + c);
          shift[i] = storeParam(c + (theta - next));
          param[i] = next;
        } else {
          param[i] = storeParam(decayed - step);
        }
      }
      // Requantize: m to the nearest code on its side of zero, v to the nearest code.
      state.codes1[i] = quantizeSigned(signedMap, m * inverse1);
      state.codes2[i] = quantize(unsignedMap, v * inverse2);
    }
  }
  return { rms, lr };
}

/**
 * The scalars a fused 8-bit kernel needs at step t, in float64 so every backend rounds them alike.
 * `lr` is η, or StableAdamW's η_t once the RMS is known. Kernels compute, per element:
 *
 * ```
 * m ← beta1·(S[c1]·absmax1) + oneMinusBeta1·g;  v ← beta2·(U[c2]·absmax2) + oneMinusBeta2·g²
 * θ ← θ·decay + negStepSize·m/(√v·invSqrtBiasCorrection2 + eps)
 * ```
 */
export interface Adam8bitStepScalars {
  /** −1 with maximize, else 1. */
  gradSign: number;
  /** β1. */
  beta1: number;
  /** 1 − β1. */
  oneMinusBeta1: number;
  /** β2. */
  beta2: number;
  /** 1 − β2. */
  oneMinusBeta2: number;
  /** 1 − η·λ. */
  decay: number;
  /** −η/(1 − β1^t): the signed step size, added to θ (the convention of every family). */
  negStepSize: number;
  /** 1/√(1 − β2^t). */
  invSqrtBiasCorrection2: number;
  /** ε. */
  eps: number;
  /** 1 − β1^t. */
  biasCorrection1: number;
  /** 1 − β2^t. */
  biasCorrection2: number;
}

/** {@link Adam8bitStepScalars} for hyperparameters `hp` at step `t` with learning rate `lr`. */
export function adam8bitStepScalars(hp: Adam8bitHyperparameters, t: number, lr = hp.lr): Adam8bitStepScalars {
  return {
    gradSign: hp.maximize ? -1 : 1,
    beta1: hp.beta1,
    oneMinusBeta1: 1 - hp.beta1,
    beta2: hp.beta2,
    oneMinusBeta2: 1 - hp.beta2,
    decay: 1 - lr * hp.weightDecay,
    negStepSize: -lr / (1 - hp.beta1 ** t),
    invSqrtBiasCorrection2: 1 / Math.sqrt(1 - hp.beta2 ** t),
    eps: hp.eps,
    biasCorrection1: 1 - hp.beta1 ** t,
    biasCorrection2: 1 - hp.beta2 ** t,
  };
}
