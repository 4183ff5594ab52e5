// AssemblyScript: optimi's AdamW / StableAdamW step (src/rules/optimi.ts is the readable version).
// Debiased moments m̂, v̂ in fp32 or bf16; params in fp32 or bf16, optionally through a Kahan
// compensation buffer c (bf16). One pass when not stable; StableAdamW first runs optimiMomentsRms
// over the whole tensor (the RMS needs every updated v̂), then optimiUpdate with the scaled lr.
// @ts-nocheck  -- AssemblyScript types.
import { loadValue, rounded, stabilizationTerm, storeValue } from './common';

/**
 * m ← m + (1 − β̂1)(g − m),  v ← β̂2·v + (1 − β̂2)·g²  for element i, stored in the moments' dtype.
 * Returns g (signed) so the caller can reuse it.
 */
@inline function updateMoments(
  g: usize, m: usize, v: usize, i: usize, gradBf16: bool, momentsBf16: bool,
  gradSign: f32, oneMinusBeta1Hat: f32, beta2Hat: f32, oneMinusBeta2Hat: f32,
): f32 {
  const gi = loadValue(g, i, gradBf16) * gradSign;
  const m0 = loadValue(m, i, momentsBf16);
  storeValue(m, i, m0 + oneMinusBeta1Hat * (gi - m0), momentsBf16);
  storeValue(v, i, beta2Hat * loadValue(v, i, momentsBf16) + oneMinusBeta2Hat * gi * gi, momentsBf16);
  return gi;
}

/** θ ← θ·decay; u = −η·m̂/(√v̂ + ε); θ ← θ + u, directly or through the Kahan sum with c. */
@inline function updateParam(
  p: usize, m: usize, v: usize, c: usize, i: usize, paramBf16: bool, momentsBf16: bool, kahan: bool,
  decay: f32, negLr: f32, eps: f32,
): void {
  const theta = decay != 1 ? rounded(loadValue(p, i, paramBf16) * decay, paramBf16) : loadValue(p, i, paramBf16);
  const update = (negLr * loadValue(m, i, momentsBf16)) / (sqrt<f32>(loadValue(v, i, momentsBf16)) + eps);
  if (kahan) {
    // c ← c + u; θ' = θ + c; c ← c + (θ − θ')   (c is bf16)
    const ci = rounded(loadValue(c, i, true) + update, true);
    const next = storeValue(p, i, theta + ci, paramBf16);
    storeValue(c, i, ci + (theta - next), true);
  } else {
    storeValue(p, i, theta + update, paramBf16);
  }
}

/** One fused optimi step over n elements (not StableAdamW). */
export function optimiStep(
  p: usize, g: usize, m: usize, v: usize, c: usize, n: i32,
  paramBf16: bool, gradBf16: bool, momentsBf16: bool, kahan: bool,
  gradSign: f32, oneMinusBeta1Hat: f32, beta2Hat: f32, oneMinusBeta2Hat: f32, decay: f32, negLr: f32, eps: f32,
): void {
  for (let i: usize = 0; i < <usize>n; i++) {
    updateMoments(g, m, v, i, gradBf16, momentsBf16, gradSign, oneMinusBeta1Hat, beta2Hat, oneMinusBeta2Hat);
    updateParam(p, m, v, c, i, paramBf16, momentsBf16, kahan, decay, negLr, eps);
  }
}

/** StableAdamW's first pass: update the moments and return Σ g²/max(v̂, ε²) (in float64). */
export function optimiMomentsRms(
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
export function optimiUpdate(
  p: usize, m: usize, v: usize, c: usize, n: i32, paramBf16: bool, momentsBf16: bool, kahan: bool,
  decay: f32, negLr: f32, eps: f32,
): void {
  for (let i: usize = 0; i < <usize>n; i++) updateParam(p, m, v, c, i, paramBf16, momentsBf16, kahan, decay, negLr, eps);
}
