// AssemblyScript: optimi's AdamW / StableAdamW step (src/rules/debiased.ts is the readable version).
// Debiased moments m̂, v̂ in fp32 or bf16; params in fp32 or bf16, optionally through a Kahan
// compensation buffer c (bf16). One pass when not stable; StableAdamW first runs debiasedMomentsRms
// over the whole tensor (the RMS needs every updated v̂), then debiasedUpdate with the scaled lr.
// @ts-nocheck  -- AssemblyScript types.
// The formulas are the debiased family's expression table (kernels/expressions/debiased.ts), generated
// into expressions.generated.ts; this file loads, stores (rounding to each buffer's dtype) and loops.
import { loadValue, stabilizationTerm, storeValue } from './common';
import {
  debiasedCompensatedUpdate, debiasedCompensation, debiasedDecayedParam, debiasedFirstMoment, debiasedGradient, debiasedKahanParam,
  debiasedNewParam, debiasedParamUpdate, debiasedSecondMoment,
} from './expressions.generated';

/** Update element i's moments, stored in the moments' dtype. Returns g (signed) so the caller can reuse it. */
@inline function updateMoments(
  g: usize, m: usize, v: usize, i: usize, gradBf16: bool, momentsBf16: bool,
  gradSign: f32, oneMinusBeta1Hat: f32, beta2Hat: f32, oneMinusBeta2Hat: f32,
): f32 {
  const gi = debiasedGradient(loadValue(g, i, gradBf16), gradSign);
  storeValue(m, i, debiasedFirstMoment(loadValue(m, i, momentsBf16), oneMinusBeta1Hat, gi), momentsBf16);
  storeValue(v, i, debiasedSecondMoment(beta2Hat, loadValue(v, i, momentsBf16), oneMinusBeta2Hat, gi), momentsBf16);
  return gi;
}

/** θ ← θ·decay; u = −η·m̂/(√v̂ + ε); θ ← θ + u, directly or through the Kahan sum with c (bf16). */
@inline function updateParam(
  p: usize, m: usize, v: usize, c: usize, i: usize, paramBf16: bool, momentsBf16: bool, kahan: bool,
  decay: f32, negStepSize: f32, eps: f32,
): void {
  const theta = decay != 1 ? debiasedDecayedParam(loadValue(p, i, paramBf16), decay, paramBf16) : loadValue(p, i, paramBf16);
  const update = debiasedParamUpdate(negStepSize, loadValue(m, i, momentsBf16), loadValue(v, i, momentsBf16), eps);
  if (kahan) {
    const ci = debiasedCompensatedUpdate(loadValue(c, i, true), update);
    const next = storeValue(p, i, debiasedKahanParam(theta, ci), paramBf16);
    storeValue(c, i, debiasedCompensation(ci, theta, next), true);
  } else {
    storeValue(p, i, debiasedNewParam(theta, update), paramBf16);
  }
}

/** One fused debiased-family step (optimi's AdamW) over n elements (not StableAdamW). */
export function debiasedStep(
  p: usize, g: usize, m: usize, v: usize, c: usize, n: i32,
  paramBf16: bool, gradBf16: bool, momentsBf16: bool, kahan: bool,
  gradSign: f32, oneMinusBeta1Hat: f32, beta2Hat: f32, oneMinusBeta2Hat: f32, decay: f32, negStepSize: f32, eps: f32,
): void {
  for (let i: usize = 0; i < <usize>n; i++) {
    updateMoments(g, m, v, i, gradBf16, momentsBf16, gradSign, oneMinusBeta1Hat, beta2Hat, oneMinusBeta2Hat);
    updateParam(p, m, v, c, i, paramBf16, momentsBf16, kahan, decay, negStepSize, eps);
  }
}

/** StableAdamW's first pass: update the moments and return Σ g²/max(v̂, ε²) (in float64). */
export function debiasedMomentsRms(
  g: usize, m: usize, v: usize, n: i32, gradBf16: bool, momentsBf16: bool,
  gradSign: f32, oneMinusBeta1Hat: f32, beta2Hat: f32, oneMinusBeta2Hat: f32, epsSquared: f32,
): f64 {
  let sum: f64 = 0;
  for (let i: usize = 0; i < <usize>n; i++) {
    const gi = updateMoments(g, m, v, i, gradBf16, momentsBf16, gradSign, oneMinusBeta1Hat, beta2Hat, oneMinusBeta2Hat);
    sum += stabilizationTerm(gi, loadValue(v, i, momentsBf16), epsSquared);
  }
  return sum;
}

/** StableAdamW's second pass: the param update with the RMS-scaled lr (moments already updated). */
export function debiasedUpdate(
  p: usize, m: usize, v: usize, c: usize, n: i32, paramBf16: bool, momentsBf16: bool, kahan: bool,
  decay: f32, negStepSize: f32, eps: f32,
): void {
  for (let i: usize = 0; i < <usize>n; i++) updateParam(p, m, v, c, i, paramBf16, momentsBf16, kahan, decay, negStepSize, eps);
}
