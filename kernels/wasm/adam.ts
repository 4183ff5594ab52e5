// AssemblyScript source of the CPU kernel: the fused Adam/AdamW step over fp32 p, g, m, v.
// Built by scripts/build-wasm.mjs into a WebAssembly SIMD module that src/backends/cpu/ embeds.
//
// One pass per element: each of p, g, m, v (and v_max with amsgrad) is read once and written once,
// so an fp32 step moves 28 bytes per parameter (36 with amsgrad: v_max is read and written) and is limited by memory bandwidth.
// The operation order copies PyTorch's single-tensor fp32 path (torch/optim/adamw.py), with one
// exception: √v is multiplied by 1/√(1 − β2^t) (computed once in float64) where PyTorch divides by
// √(1 − β2^t). Two divisions and a square root per element made the kernel compute-bound (16M params,
// 2 threads: 8.9 ms with the division, 6.2 ms without); the results differ from PyTorch's by at most
// an ulp of the denominator.
//
// Scalars that depend only on the step t are computed once per tensor in float64 by
// src/rules/adam.ts (adamStepScalars) and passed in already rounded to f32.

// @ts-nocheck  -- AssemblyScript types (usize, f32, v128) are not TypeScript's.
// The formulas are the adam family's expression table (kernels/expressions/adam.ts), generated into
// expressions.generated.ts; this file loads, stores and loops.
import {
  adamDecayedParam, adamDecayedParamVec, adamDenominator, adamDenominatorVec, adamFirstMoment, adamFirstMomentVec,
  adamGradient, adamGradientVec, adamMaxSecondMoment, adamMaxSecondMomentVec, adamNewParam, adamNewParamVec,
  adamSecondMoment, adamSecondMomentVec,
} from './expressions.generated';

/** Per-vector body: four lanes of the Adam step. Inlined into both loops below. */
@inline
function stepLanes(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, i: usize, amsgrad: bool,
  gradSign: v128, decay: v128, l2: v128, oneMinusBeta1: v128, beta2: v128, oneMinusBeta2: v128,
  invSqrtBc2: v128, eps: v128, negStepSize: v128,
): void {
  const o = i << 2;
  const theta = adamDecayedParamVec(v128.load(p + o), decay);
  const gi = adamGradientVec(v128.load(g + o), gradSign, l2, theta);
  const mi = adamFirstMomentVec(v128.load(m + o), oneMinusBeta1, gi);
  const vi = adamSecondMomentVec(v128.load(v + o), beta2, oneMinusBeta2, gi);
  v128.store(m + o, mi);
  v128.store(v + o, vi);
  let vUsed = vi;
  if (amsgrad) {
    // the denominator uses v_max
    vUsed = adamMaxSecondMomentVec(v128.load(vmax + o), vi);
    v128.store(vmax + o, vUsed);
  }
  v128.store(p + o, adamNewParamVec(theta, negStepSize, mi, adamDenominatorVec(vUsed, invSqrtBc2, eps)));
}

/** Scalar body for the tail (n mod 4 elements): the same rows as stepLanes, one lane. */
@inline
function stepOne(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, i: usize, amsgrad: bool,
  gradSign: f32, decay: f32, l2: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  invSqrtBc2: f32, eps: f32, negStepSize: f32,
): void {
  const o = i << 2;
  const theta = adamDecayedParam(load<f32>(p + o), decay);
  const gi = adamGradient(load<f32>(g + o), gradSign, l2, theta);
  const mi = adamFirstMoment(load<f32>(m + o), oneMinusBeta1, gi);
  const vi = adamSecondMoment(load<f32>(v + o), beta2, oneMinusBeta2, gi);
  store<f32>(m + o, mi);
  store<f32>(v + o, vi);
  let vUsed = vi;
  if (amsgrad) {
    vUsed = adamMaxSecondMoment(load<f32>(vmax + o), vi);
    store<f32>(vmax + o, vUsed);
  }
  store<f32>(p + o, adamNewParam(theta, negStepSize, mi, adamDenominator(vUsed, invSqrtBc2, eps)));
}

/**
 * Fused Adam/AdamW step over n fp32 elements at byte addresses p, g, m, v (and vmax when amsgrad).
 * Arrays must be 16-byte aligned. Scalars: see adamStepScalars in src/rules/adam.ts.
 */
export function adamStepF32(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32, amsgrad: bool,
  gradSign: f32, decay: f32, l2: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  invSqrtBc2: f32, eps: f32, negStepSize: f32,
): void {
  const count = <usize>n;
  const vectorEnd = count & ~(<usize>3);
  const vSign = f32x4.splat(gradSign), vDecay = f32x4.splat(decay), vL2 = f32x4.splat(l2);
  const vOmb1 = f32x4.splat(oneMinusBeta1), vB2 = f32x4.splat(beta2), vOmb2 = f32x4.splat(oneMinusBeta2);
  const vInvSqrtBc2 = f32x4.splat(invSqrtBc2), vEps = f32x4.splat(eps), vNegStep = f32x4.splat(negStepSize);
  if (amsgrad) {
    for (let i: usize = 0; i < vectorEnd; i += 4) {
      stepLanes(p, g, m, v, vmax, i, true, vSign, vDecay, vL2, vOmb1, vB2, vOmb2, vInvSqrtBc2, vEps, vNegStep);
    }
  } else {
    for (let i: usize = 0; i < vectorEnd; i += 4) {
      stepLanes(p, g, m, v, vmax, i, false, vSign, vDecay, vL2, vOmb1, vB2, vOmb2, vInvSqrtBc2, vEps, vNegStep);
    }
  }
  for (let i = vectorEnd; i < count; i++) {
    stepOne(p, g, m, v, vmax, i, amsgrad, gradSign, decay, l2, oneMinusBeta1, beta2, oneMinusBeta2, invSqrtBc2, eps, negStepSize);
  }
}
