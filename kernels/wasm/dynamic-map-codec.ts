// AssemblyScript: bitsandbytes' dynamic maps (src/rules/blockwise8bit.ts dynamicMap, quantize,
// quantizeSigned) computed with SIMD arithmetic instead of tables, four lanes at a time.
//
// Both maps index their positive values by t: decade i holds the n = 2^i (signed map) or 2^(i+1)
// (unsigned) midpoints of float32 linspace(0.1, 1, n + 1), scaled by 10^(i−6), at t = n + k for
// k = 0…n−1. So n is t's leading power of two, read from t's float32 exponent:
//
//   V(t) = f32(10^(i−6) · f32(f32(lin(k) + lin(k+1)) / 2)),
//   lin(k) = k < n/2 ? f32(0.1 + f32(s·k)) : f32(1 − f32(s·(n − k))),   s = f32(0.9)/n (exact: n is 2^i)
//
// which is torch.linspace's symmetric formula. Signed map: code 127 ± t is ±V(t), t = 0 is 0, t = 128
// is 1. Unsigned: code t − 1, t = 1 is 0, t = 256 is 1.
//
// Encoding: dQuantize's 7-step search always ends on an even code, so x on the midpoint of codes p and
// p + 1 stays on the even one. In t (both maps) that is: a midpoint between t and t + 1 goes to t when t
// is odd, to t + 1 when even. A candidate t from x's decade and a linear estimate within it is at most
// one code off; comparing x with the two midpoints beside it, computed with V, gives the code.
// This module is checked against the tables over every code and every float32 in [−1, 1]
// (`npm run check:codec`); the step kernel (blockwise8bit.ts) keeps its tables, which are faster.
// @ts-nocheck  -- AssemblyScript types.

const LOW: f32 = 0.1;
const SPAN: f32 = 1 - LOW;

/** 10^(i−6) as float32, for decades i = 0…3 and 4…6, as bytes for i8x16.swizzle. */
const SCALES_LOW = f32x4(0.000001, 0.00001, 0.0001, 0.001);
const SCALES_HIGH = f32x4(0.01, 0.1, 1, 0);

/** Four lanes' 10^(i−6), picked with swizzles from decade indices i (0…6) in 32-bit lanes. */
@inline function scaleOf(decade: v128): v128 {
  // Byte b of lane j reads byte 4·i + b of the table; an index ≥ 16 reads 0.
  const bytes = i32x4.add(i32x4.mul(decade, i32x4.splat(0x04040404)), i32x4.splat(0x03020100));
  return v128.or(i8x16.swizzle(SCALES_LOW, bytes), i8x16.swizzle(SCALES_HIGH, i8x16.sub(bytes, i8x16.splat(16))));
}

/** float32 linspace(0.1, 1, n + 1)[k] for float k and n, with step s = 0.9/n. */
@inline function linspaceAt(k: v128, n: v128, step: v128): v128 {
  const fromLow = f32x4.add(f32x4.splat(LOW), f32x4.mul(step, k));
  const fromHigh = f32x4.sub(f32x4.splat(1), f32x4.mul(step, f32x4.sub(n, k)));
  return v128.bitselect(fromLow, fromHigh, f32x4.lt(k, f32x4.mul(n, f32x4.splat(0.5))));
}

/**
 * V(t) for t ≥ 1 in 32-bit lanes (`decadeBias` 0 for the signed map, 1 for the unsigned). Lanes
 * with t outside the map's decades hold garbage: callers select 0 or 1 there.
 */
@inline function valueAt(t: v128, decadeBias: i32): v128 {
  const tf = f32x4.convert_i32x4_s(t);
  const nBits = v128.and(tf, i32x4.splat(0x7f800000));
  const n = nBits; // 2^⌊log2 t⌋
  const k = f32x4.sub(tf, n);
  // 1/n: the exponent mirrored around 127
  const step = f32x4.mul(f32x4.splat(SPAN), i32x4.sub(i32x4.splat(0x7f000000), nBits));
  const sum = f32x4.add(linspaceAt(k, n, step), linspaceAt(f32x4.add(k, f32x4.splat(1)), n, step));
  const decade = i32x4.sub(i32x4.shr_u(nBits, 23), i32x4.splat(127 + decadeBias));
  return f32x4.mul(scaleOf(decade), f32x4.mul(sum, f32x4.splat(0.5)));
}

/** The signed map's values of four codes (0…255 in 32-bit lanes). */
@inline export function decodeSigned(codes: v128): v128 {
  const centered = i32x4.sub(codes, i32x4.splat(127));
  const t = i32x4.abs(centered);
  let value = valueAt(t, 0);
  value = v128.bitselect(f32x4.splat(1), value, i32x4.eq(t, i32x4.splat(128)));
  value = v128.andnot(value, i32x4.eq(t, i32x4.splat(0)));
  // code < 127: the negated value
  return v128.or(value, v128.and(centered, i32x4.splat(0x80000000)));
}

/** The unsigned map's values of four codes (0…255 in 32-bit lanes). */
@inline export function decodeUnsigned(codes: v128): v128 {
  let value = valueAt(i32x4.add(codes, i32x4.splat(1)), 1);
  value = v128.bitselect(f32x4.splat(1), value, i32x4.eq(codes, i32x4.splat(255)));
  return v128.andnot(value, i32x4.eq(codes, i32x4.splat(0)));
}

/** V(t) with the map's ends: 0 at t = zero, 1 at t = top. */
@inline function valueOrEnds(t: v128, decadeBias: i32, zero: i32, top: i32): v128 {
  const value = v128.bitselect(f32x4.splat(1), valueAt(t, decadeBias), i32x4.eq(t, i32x4.splat(top)));
  return v128.andnot(value, i32x4.eq(t, i32x4.splat(zero)));
}

/** Whether a moves from t up past the midpoint of V(t) and V(t + 1): a tie goes up only from an even t. */
@inline function passes(a: v128, t: v128, here: v128, next: v128): v128 {
  const midpoint = f32x4.mul(f32x4.add(here, next), f32x4.splat(0.5));
  const evenT = i32x4.eq(v128.and(t, i32x4.splat(1)), i32x4.splat(0));
  return v128.bitselect(f32x4.ge(a, midpoint), f32x4.gt(a, midpoint), evenT);
}

/**
 * t of the nearest value to a ≥ 0 (dQuantize's ties), clamped to [zero, top]. `firsts` holds V at the
 * first t of decades 1…6; `decadeBias` as in valueAt.
 */
@inline function nearestT(a: v128, decadeBias: i32, zero: i32, top: i32,
  first1: f32, first2: f32, first3: f32, first4: f32, first5: f32, first6: f32): v128 {
  // The decade: how many decades' first values a reaches (a below decade 0 counts as decade 0), and 10^(6−i).
  let decade = i32x4.splat(0);
  let inverseScale = f32x4.splat(1e6);
  let reached = f32x4.ge(a, f32x4.splat(first1));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(1e5), inverseScale, reached);
  reached = f32x4.ge(a, f32x4.splat(first2));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(1e4), inverseScale, reached);
  reached = f32x4.ge(a, f32x4.splat(first3));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(1e3), inverseScale, reached);
  reached = f32x4.ge(a, f32x4.splat(first4));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(1e2), inverseScale, reached);
  reached = f32x4.ge(a, f32x4.splat(first5));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(10), inverseScale, reached);
  reached = f32x4.ge(a, f32x4.splat(first6));
  decade = i32x4.sub(decade, reached);
  inverseScale = v128.bitselect(f32x4.splat(1), inverseScale, reached);
  // n = 2^(i + bias); value(n + k) ≈ 10^(i−6)·(0.1 + 0.9·(k + ½)/n), so k ≈ ⌊(a·10^(6−i) − 0.1)·n/0.9⌋,
  // clamped to −1 (the value below the decade) … n (the next decade's first).
  const n = i32x4.shl(i32x4.add(decade, i32x4.splat(127 + decadeBias)), 23);
  const estimate = f32x4.mul(f32x4.mul(f32x4.sub(f32x4.mul(a, inverseScale), f32x4.splat(LOW)), n), f32x4.splat(1 / SPAN));
  const k = f32x4.min(f32x4.max(f32x4.floor(estimate), f32x4.splat(-1)), n);
  const candidate = i32x4.trunc_sat_f32x4_s(f32x4.add(n, k));
  // One code either way: compare a with the midpoints on both sides of the candidate.
  const below = i32x4.sub(candidate, i32x4.splat(1)), above = i32x4.add(candidate, i32x4.splat(1));
  const vBelow = valueOrEnds(below, decadeBias, zero, top);
  const vHere = valueOrEnds(candidate, decadeBias, zero, top);
  const vAbove = valueOrEnds(above, decadeBias, zero, top);
  const up = passes(a, candidate, vHere, vAbove);
  const down = v128.not(passes(a, below, vBelow, vHere));
  // up and down are −1 where true
  const t = i32x4.add(i32x4.sub(candidate, up), down);
  return i32x4.min_s(i32x4.max_s(t, i32x4.splat(zero)), i32x4.splat(top));
}

/** First values of the decades 1…6 of each map, set by setDecadeFirsts (computed with valueAt itself). */
let signedFirsts = f32x4.splat(0), signedFirstsHigh = f32x4.splat(0);
let unsignedFirsts = f32x4.splat(0), unsignedFirstsHigh = f32x4.splat(0);

/** The signed map's codes of four x (quantizeSigned: a negative x, or −0, never takes code 127, which is +0). */
@inline export function encodeSigned(x: v128): v128 {
  const a = f32x4.abs(x);
  let t = nearestT(a, 0, 0, 128,
    f32x4.extract_lane(signedFirsts, 0), f32x4.extract_lane(signedFirsts, 1), f32x4.extract_lane(signedFirsts, 2),
    f32x4.extract_lane(signedFirsts, 3), f32x4.extract_lane(signedFirstsHigh, 0), f32x4.extract_lane(signedFirstsHigh, 1));
  const negative = i32x4.shr_s(x, 31);
  t = i32x4.max_s(t, v128.and(negative, i32x4.splat(1)));
  // 127 + t, or 127 − t where x is negative: (t ^ s) − s negates where s = −1
  return i32x4.add(i32x4.splat(127), i32x4.sub(v128.xor(t, negative), negative));
}

/** The unsigned map's codes of four x (x ≤ 0 takes code 0). */
@inline export function encodeUnsigned(x: v128): v128 {
  const a = f32x4.max(x, f32x4.splat(0));
  const t = nearestT(a, 1, 1, 256,
    f32x4.extract_lane(unsignedFirsts, 0), f32x4.extract_lane(unsignedFirsts, 1), f32x4.extract_lane(unsignedFirsts, 2),
    f32x4.extract_lane(unsignedFirsts, 3), f32x4.extract_lane(unsignedFirstsHigh, 0), f32x4.extract_lane(unsignedFirstsHigh, 1));
  return i32x4.sub(t, i32x4.splat(1));
}

/** V at the first t of decades 1…6 (t = 2^i signed, 2^(i+1) unsigned), computed once with valueAt. */
function setDecadeFirsts(): void {
  signedFirsts = valueAt(i32x4(2, 4, 8, 16), 0);
  signedFirstsHigh = valueAt(i32x4(32, 64, 64, 64), 0);
  unsignedFirsts = valueAt(i32x4(4, 8, 16, 32), 1);
  unsignedFirstsHigh = valueAt(i32x4(64, 128, 128, 128), 1);
}
setDecadeFirsts();
