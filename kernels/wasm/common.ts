// AssemblyScript: helpers shared by the kernels.
// @ts-nocheck  -- AssemblyScript types.
import { bf16QuietNanBits, bf16QuietNanBitsVec, bf16RoundedBits, bf16RoundedBitsVec, stableRatio, stableTerm } from './expressions.generated';

/** The float32 value of a bf16 bit pattern. */
@inline export function bf16ToF32(bits: u32): f32 {
  return reinterpret<f32>(bits << 16);
}

/** Round a float32 to the nearest bf16 (ties to even); NaN stays a quiet NaN. The table: kernels/expressions/bf16.ts. */
@inline export function f32ToBf16(x: f32): u32 {
  const bits = reinterpret<u32>(x);
  // Both rows, then a select: no branch, as in the four lanes of bf16BitsVec.
  const quietNaN = bf16QuietNanBits(bits), rounded = bf16RoundedBits(bits);
  return ((bits & 0x7fffffff) > 0x7f800000 ? quietNaN : rounded) & 0xffff;
}

/** max(a, b), NaN when either is: torch.maximum, and what wasm's f32x4.max does lane-wise. */
@inline export function maxPropagatingNan(a: f32, b: f32): f32 {
  return isNaN(a) || isNaN(b) ? NaN : max(a, b);
}

/** Load element i of a buffer that is bf16 (isBf16) or fp32. */
@inline export function loadValue(base: usize, i: usize, isBf16: bool): f32 {
  return isBf16 ? bf16ToF32(<u32>load<u16>(base + (i << 1))) : load<f32>(base + (i << 2));
}

/** Store element i into a bf16 (rounded) or fp32 buffer; returns the value as stored. */
@inline export function storeValue(base: usize, i: usize, x: f32, isBf16: bool): f32 {
  if (isBf16) {
    const h = f32ToBf16(x);
    store<u16>(base + (i << 1), <u16>h);
    return bf16ToF32(h);
  }
  store<f32>(base + (i << 2), x);
  return x;
}

/** x rounded to a bf16 (isBf16) or left as fp32: what storing it would keep. */
@inline export function rounded(x: f32, isBf16: bool): f32 {
  return isBf16 ? bf16ToF32(f32ToBf16(x)) : x;
}

/** Four elements of a bf16 (isBf16) or fp32 buffer, as f32x4. */
@inline export function loadVec(base: usize, i: usize, isBf16: bool): v128 {
  if (isBf16) return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(base + (i << 1))), 16);
  return v128.load(base + (i << 2));
}

/** Four float32s rounded to bf16 (ties to even, NaN kept quiet), as their bit patterns in the low halves. */
@inline function bf16BitsVec(x: v128): v128 {
  const rounded = bf16RoundedBitsVec(x);
  const quietNaN = bf16QuietNanBitsVec(x);
  const isNaN = f32x4.ne(x, x);
  return v128.bitselect(quietNaN, rounded, isNaN);
}

/** x rounded to bf16 (isBf16) or left as fp32, lane-wise. */
@inline export function roundedVec(x: v128, isBf16: bool): v128 {
  return isBf16 ? i32x4.shl(bf16BitsVec(x), 16) : x;
}

/** Store four elements into a bf16 (rounded) or fp32 buffer; returns the values as stored. */
@inline export function storeVec(base: usize, i: usize, x: v128, isBf16: bool): v128 {
  if (isBf16) {
    const bits = bf16BitsVec(x);
    v128.store64_lane(base + (i << 1), i16x8.narrow_i32x4_u(bits, bits), 0);
    return i32x4.shl(bits, 16);
  }
  v128.store(base + (i << 2), x);
  return x;
}

/**
 * StableAdamW's per-element term g²/max(v̂, ε²), summed in float64 over a tensor for its RMS.
 * Computed as (g/√max(v̂, ε²))², which cannot overflow (g² would for |g| > 1.8e19); v̂ = +∞ gives 0
 * (src/rules/debiased.ts stabilizationTerm).
 */
@inline export function stabilizationTerm(g: f32, vHat: f32, epsSquared: f32): f64 {
  return <f64>stableTerm(stableRatio(g, vHat, epsSquared));
}
