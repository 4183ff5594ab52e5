// AssemblyScript: AdamW with bitsandbytes' 8-bit blockwise state (src/rules/blockwise8bit.ts is the
// readable version). Per block of 256: a first pass finds the new absmax of m and v, a second
// recomputes the same moments (identical arithmetic), updates the params and requantizes.
//
// Quantization uses tables built by src/backends/cpu/quantization-tables.ts from the reference
// dQuantize: for each bf16-wide bucket of x's float bits (x >> 16), the code at the bucket's low end
// and the largest x in the bucket that still maps to it. code = table[b] + (x > threshold[b]), which
// equals bitsandbytes' 7-step binary search for every float x, at the cost of one lookup.
// @ts-nocheck  -- AssemblyScript types.
import { loadValue, rounded, storeValue } from './common';

/** Layout of one map's tables in memory, from `tables`: values (256 f32), codes (65536 u8), thresholds (65536 f32). */
export const QUANTIZATION_CODES_OFFSET: usize = 1024;
export const QUANTIZATION_THRESHOLDS_OFFSET: usize = 1024 + 65536;
export const QUANTIZATION_TABLE_BYTES: usize = 1024 + 65536 + 65536 * 4;

@inline function quantizeWithTable(table: usize, x: f32): u32 {
  const bucket = <usize>(reinterpret<u32>(x) >>> 16);
  const code = <u32>load<u8>(table + QUANTIZATION_CODES_OFFSET + bucket);
  return code + <u32>(x > load<f32>(table + QUANTIZATION_THRESHOLDS_OFFSET + (bucket << 2)));
}

@inline function mapValue(table: usize, code: u32): f32 {
  return load<f32>(table + (<usize>code << 2));
}

/** Dequantize and update element i's moments from its codes; NaN/Inf gradients give 0 (bitsandbytes). */
@inline function moments(
  g: usize, codes1: usize, codes2: usize, signedTable: usize, unsignedTable: usize, i: usize, gradBf16: bool,
  absmax1: f32, absmax2: f32, gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
): v128 {
  const gi = loadValue(g, i, gradBf16) * gradSign;
  if (!isFinite<f32>(gi)) return f32x4(0, 0, gi, 0);
  const s1 = mapValue(signedTable, <u32>load<u8>(codes1 + i)) * absmax1 * beta1 + oneMinusBeta1 * gi;
  const s2 = mapValue(unsignedTable, <u32>load<u8>(codes2 + i)) * absmax2 * beta2 + oneMinusBeta2 * gi * gi;
  return f32x4(s1, s2, gi, 1);
}

/**
 * One 8-bit AdamW step over n elements (n a multiple of 256 except for a tensor's last block).
 * `shift` (0 for none) is diffusion-pipe's Kahan buffer in the param's dtype. Scalars use the
 * (possibly StableAdamW-scaled) lr: decay = 1 − η·λ, stepSize = η/(1 − β1^t).
 */
export function adam8bitStep(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, stepSize: f32, invSqrtBc2: f32, eps: f32,
): void {
  const count = <usize>n;
  for (let start: usize = 0, block: usize = 0; start < count; start += 256, block++) {
    const end = min<usize>(start + 256, count);
    const a1 = load<f32>(absmax1 + (block << 2));
    const a2 = load<f32>(absmax2 + (block << 2));
    let new1: f32 = 0;
    let new2: f32 = 0;
    for (let i = start; i < end; i++) {
      const s = moments(g, codes1, codes2, signedTable, unsignedTable, i, gradBf16, a1, a2, gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2);
      new1 = max<f32>(new1, abs<f32>(f32x4.extract_lane(s, 0)));
      new2 = max<f32>(new2, abs<f32>(f32x4.extract_lane(s, 1)));
    }
    store<f32>(absmax1 + (block << 2), new1);
    store<f32>(absmax2 + (block << 2), new2);
    for (let i = start; i < end; i++) {
      const s = moments(g, codes1, codes2, signedTable, unsignedTable, i, gradBf16, a1, a2, gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2);
      const m = f32x4.extract_lane(s, 0);
      const v = f32x4.extract_lane(s, 1);
      if (f32x4.extract_lane(s, 3) != 0) {
        // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε)
        const theta = loadValue(p, i, paramBf16);
        const decayed = theta * decay;
        const step = stepSize * (m / (sqrt<f32>(v) * invSqrtBc2 + eps));
        if (shift != 0) {
          const c = rounded(loadValue(shift, i, paramBf16) + (decayed - theta) - step, paramBf16);
          const next = storeValue(p, i, theta + c, paramBf16);
          storeValue(shift, i, c + (theta - next), paramBf16);
        } else {
          storeValue(p, i, decayed - step, paramBf16);
        }
      }
      // Requantize; m keeps its sign (bitsandbytes moves one code toward m on a sign flip).
      let c1 = quantizeWithTable(signedTable, new1 > 0 ? m / new1 : 0);
      const q = mapValue(signedTable, c1);
      if ((reinterpret<u32>(q) >>> 31) != (reinterpret<u32>(m) >>> 31)) c1 = m > 0 ? c1 + 1 : c1 - 1;
      store<u8>(codes1 + i, <u8>c1);
      store<u8>(codes2 + i, <u8>quantizeWithTable(unsignedTable, new2 > 0 ? v / new2 : 0));
    }
  }
}

/** StableAdamW's pass for 8-bit state: Σ g²/max(v/(1−β2^t), ε²) over the updated v, without writing. */
export function adam8bitRmsSum(
  g: usize, codes2: usize, absmax2: usize, n: i32, unsignedTable: usize, gradBf16: bool,
  gradSign: f32, beta2: f32, oneMinusBeta2: f32, biasCorrection2: f32, epsSquared: f32,
): f64 {
  let sum: f64 = 0;
  for (let i: usize = 0; i < <usize>n; i++) {
    const gi = loadValue(g, i, gradBf16) * gradSign;
    if (!isFinite<f32>(gi)) continue;
    const v = mapValue(unsignedTable, <u32>load<u8>(codes2 + i)) * load<f32>(absmax2 + ((i >> 8) << 2)) * beta2 + oneMinusBeta2 * gi * gi;
    sum += <f64>((gi * gi) / max<f32>(v / biasCorrection2, epsSquared));
  }
  return sum;
}
