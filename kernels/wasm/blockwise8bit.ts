// AssemblyScript: AdamW with bitsandbytes' 8-bit blockwise state (src/rules/blockwise8bit.ts is the
// readable version). Per block of 256: a first pass updates m and v, steps the params and finds the
// new absmax of m and v; a second requantizes m and v against it.
//
// Quantization uses tables built by src/backends/quantization-tables.ts from the reference
// dQuantize: one u32 entry per bf16-wide bucket of x's float bits (x >> 16) holds the code at the
// bucket's low end and the position of the last x in the bucket that still maps to it, so
// code = (entry >> 16) + (position(x) > (entry & 0xffff)). That equals bitsandbytes' 7-step binary
// search for every float x, at the cost of one lookup. The signed map's table (for m) also applies
// bitsandbytes' rule that keeps a code on m's side of zero.
// @ts-nocheck  -- AssemblyScript types.
// The per-element formulas are the blockwise8bit family's expression table
// (kernels/expressions/blockwise8bit.ts), generated into expressions.generated.ts: `…Vec` on four lanes.
import { loadValue, loadVec, stabilizationTerm, storeValue, storeVec } from './common';
import {
  blockwise8bitDebiasedSecondMoment, blockwise8bitDecayedParam, blockwise8bitDecayedParamVec, blockwise8bitFirstMoment,
  blockwise8bitFirstMomentVec, blockwise8bitGradient, blockwise8bitGradientVec, blockwise8bitKahanParam, blockwise8bitKahanParamVec,
  blockwise8bitNewParam, blockwise8bitNewParamVec, blockwise8bitNewShift, blockwise8bitNewShiftVec, blockwise8bitNormalized,
  blockwise8bitNormalizedVec, blockwise8bitSecondMoment, blockwise8bitSecondMomentVec, blockwise8bitShiftedUpdate,
  blockwise8bitShiftedUpdateVec, blockwise8bitStep, blockwise8bitStepVec,
} from './expressions.generated';

/** Layout of one map's tables in memory, from `tables`: values (256 f32), then entries (65536 u32). */
export const QUANTIZATION_ENTRIES_OFFSET: usize = 1024;
export const QUANTIZATION_TABLE_BYTES: usize = 1024 + 65536 * 4;

@inline function quantizeWithTable(table: usize, x: f32): u32 {
  const bits = reinterpret<u32>(x);
  const entry = load<u32>(table + QUANTIZATION_ENTRIES_OFFSET + (<usize>(bits >>> 16) << 2));
  const position = (bits & 0xffff) ^ (<u32>(<i32>bits >> 31) & 0xffff);
  return (entry >>> 16) + <u32>(position > (entry & 0xffff));
}

@inline function mapValue(table: usize, code: u32): f32 {
  return load<f32>(table + (<usize>code << 2));
}

/** Dequantize and update element i's moments from its codes; NaN/Inf gradients give 0 (bitsandbytes). */
@inline function moments(
  g: usize, codes1: usize, codes2: usize, signedTable: usize, unsignedTable: usize, i: usize, gradBf16: bool,
  absmax1: f32, absmax2: f32, gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
): v128 {
  const gi = blockwise8bitGradient(loadValue(g, i, gradBf16), gradSign);
  if (!isFinite<f32>(gi)) return f32x4(0, 0, gi, 0);
  const s1 = blockwise8bitFirstMoment(mapValue(signedTable, <u32>load<u8>(codes1 + i)), absmax1, beta1, oneMinusBeta1, gi);
  const s2 = blockwise8bitSecondMoment(mapValue(unsignedTable, <u32>load<u8>(codes2 + i)), absmax2, beta2, oneMinusBeta2, gi);
  return f32x4(s1, s2, gi, 1);
}

/** Map values of the 4 codes at codes + i, as f32x4 (a gather: wasm SIMD has none, so one lane load each). */
@inline function gatherMap(table: usize, codes: usize, i: usize): v128 {
  // Byte loads, not shifts of one u32 load: the loads have ports to spare, the ALUs do not.
  let out = v128.load32_zero(table + (<usize>load<u8>(codes + i) << 2));
  out = v128.load32_lane(table + (<usize>load<u8>(codes + i + 1) << 2), out, 1);
  out = v128.load32_lane(table + (<usize>load<u8>(codes + i + 2) << 2), out, 2);
  return v128.load32_lane(table + (<usize>load<u8>(codes + i + 3) << 2), out, 3);
}

/** The four 32-bit values at table + offsets[lane]. */
@inline function gather32(table: usize, offsets: v128): v128 {
  const low = i64x2.extract_lane(offsets, 0), high = i64x2.extract_lane(offsets, 1);
  let out = v128.load32_zero(table + <usize>(<u32>low));
  out = v128.load32_lane(table + <usize>(<u32>(low >>> 32)), out, 1);
  out = v128.load32_lane(table + <usize>(<u32>high), out, 2);
  return v128.load32_lane(table + <usize>(<u32>(high >>> 32)), out, 3);
}

/** Byte offsets of x's buckets in a table's entries: (bits >> 16) · 4. */
@inline function bucketOffsets(x: v128): v128 {
  return v128.and(i32x4.shr_u(x, 14), i32x4.splat(0x3fffc));
}

/**
 * quantizeWithTable for four m (xm, signed) and four v (xv) at once: codes of m in bytes 0–3, of v
 * in bytes 4–7. The compare runs on 16-bit lanes (only those holding a 32-bit lane's low half
 * count), and code = low code + (position > last) is computed as low + 1 + (−1 where position ≤ last).
 */
@inline function quantizePair(signedTable: usize, unsignedTable: usize, xm: v128, xv: v128): v128 {
  const entriesM = gather32(signedTable + QUANTIZATION_ENTRIES_OFFSET, bucketOffsets(xm));
  const entriesV = gather32(unsignedTable + QUANTIZATION_ENTRIES_OFFSET, bucketOffsets(xv));
  // Position in the bucket, in value order: the low 16 bits, complemented where m is negative (v never is).
  const stayM = i16x8.le_u(v128.xor(xm, i32x4.shr_s(xm, 31)), entriesM);
  const stayV = i16x8.le_u(xv, entriesV);
  // Into 16-bit lanes (m's four, then v's): the low codes, and −1 where x stays on the low code.
  const low = i16x8.narrow_i32x4_u(i32x4.shr_u(entriesM, 16), i32x4.shr_u(entriesV, 16));
  const lowHalf = i32x4.splat(0xffff);
  const stay = i16x8.narrow_i32x4_u(v128.and(stayM, lowHalf), v128.and(stayV, lowHalf));
  const codes = i16x8.add(i16x8.add(low, stay), i16x8.splat(1));
  return i8x16.narrow_i16x8_u(codes, codes);
}

/** The end of the whole vectors of the block at `start` (start itself when the block is past `count`). */
@inline function wholeVectorsOf(start: usize, count: usize): usize {
  return start < count ? start + ((min<usize>(start + 256, count) - start) & ~(<usize>3)) : start;
}

/** `nonFinite` with g[i..i+4) folded in: g − g is 0 where g is finite and NaN elsewhere, so any bit set marks one. */
@inline function withNonFinite(nonFinite: v128, g: usize, i: usize, gradBf16: bool): v128 {
  const gi = loadVec(g, i, gradBf16);
  return v128.or(nonFinite, f32x4.sub(gi, gi));
}

/** Whether g[start..end) (end − start a multiple of 4) is all finite. */
@inline function allFinite(g: usize, start: usize, end: usize, gradBf16: bool): bool {
  let nonFinite = i32x4.splat(0);
  for (let i = start; i < end; i += 4) nonFinite = withNonFinite(nonFinite, g, i, gradBf16);
  return !v128.any_true(nonFinite);
}

/**
 * One 8-bit AdamW step over n elements (n a multiple of 256 except for a tensor's last block).
 * `shift` (0 for none) is diffusion-pipe's Kahan buffer in the param's dtype. Scalars use the
 * (possibly StableAdamW-scaled) lr: decay = 1 − η·λ, negStepSize = −η/(1 − β1^t). `scratch` holds 512
 * floats: one block's updated m and v between the two passes.
 */
export function adam8bitStep(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, negStepSize: f32, invSqrtBc2: f32, eps: f32, scratch: usize,
): void {
  // One copy of the loop per dtype combination, so the hot loop tests no flags (they are constants
  // once `blocks` is inlined). The plain fp32 case is what AdamW8bit runs on fp32 params.
  const kahan = shift != 0;
  if (!paramBf16 && !gradBf16 && !kahan) {
    blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, false, false, false,
      gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, negStepSize, invSqrtBc2, eps, scratch);
  } else if (paramBf16 && kahan) {
    if (gradBf16) {
      blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, true, true, true,
        gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, negStepSize, invSqrtBc2, eps, scratch);
    } else {
      blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, true, false, true,
        gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, negStepSize, invSqrtBc2, eps, scratch);
    }
  } else {
    // The rarer combinations share one loop that tests the flags as it goes.
    blocksWithFlags(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, paramBf16, gradBf16, kahan,
      gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, negStepSize, invSqrtBc2, eps, scratch);
  }
}

function blocksWithFlags(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool, kahan: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, negStepSize: f32, invSqrtBc2: f32, eps: f32, scratch: usize,
): void {
  blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, paramBf16, gradBf16, kahan,
    gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, negStepSize, invSqrtBc2, eps, scratch);
}

/**
 * The step, block by block. Pass 1 dequantizes and updates m and v (0 where g is not finite), steps
 * the params (which need only the new moments) and takes the new absmax; pass 2 requantizes m and v
 * against it. m·(1/absmax) stands for m/absmax, as bitsandbytes' CUDA kernel (`__fdividef`) does.
 */
@inline function blocks(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool, kahan: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, negStepSize: f32, invSqrtBc2: f32, eps: f32, scratch: usize,
): void {
  const count = <usize>n;
  const vSign = f32x4.splat(gradSign), vBeta1 = f32x4.splat(beta1), vOmb1 = f32x4.splat(oneMinusBeta1);
  const vBeta2 = f32x4.splat(beta2), vOmb2 = f32x4.splat(oneMinusBeta2);
  const vDecay = f32x4.splat(decay), vStep = f32x4.splat(negStepSize), vInvSqrtBc2 = f32x4.splat(invSqrtBc2), vEps = f32x4.splat(eps);
  const s1 = scratch, s2 = scratch + 1024;
  let finite = allFinite(g, 0, wholeVectorsOf(0, count), gradBf16);
  for (let start: usize = 0, block: usize = 0; start < count; start += 256, block++) {
    const end = min<usize>(start + 256, count);
    const wholeVectors = wholeVectorsOf(start, count);
    // A block with a non-finite gradient (rare: an overflowed loss) goes element by element, which
    // gives those elements m = v = 0 and keeps their θ; the vector pass needs no masks.
    const vectorEnd = finite ? wholeVectors : start;
    const a1 = load<f32>(absmax1 + (block << 2));
    const a2 = load<f32>(absmax2 + (block << 2));
    const vA1 = f32x4.splat(a1), vA2 = f32x4.splat(a2);
    const maxima = firstPass(p, g, codes1, codes2, shift, start, vectorEnd, signedTable, unsignedTable, paramBf16, gradBf16, kahan,
      vSign, vA1, vA2, vBeta1, vOmb1, vBeta2, vOmb2, vDecay, vStep, vInvSqrtBc2, vEps, s1, s2);
    let new1 = f32x4.extract_lane(maxima, 0), new2 = f32x4.extract_lane(maxima, 1);
    for (let i = vectorEnd; i < end; i++) {
      const s = moments(g, codes1, codes2, signedTable, unsignedTable, i, gradBf16, a1, a2, gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2);
      const m = f32x4.extract_lane(s, 0), v = f32x4.extract_lane(s, 1);
      store<f32>(s1 + ((i - start) << 2), m);
      store<f32>(s2 + ((i - start) << 2), v);
      new1 = max<f32>(new1, abs<f32>(m));
      new2 = max<f32>(new2, abs<f32>(v));
      if (f32x4.extract_lane(s, 3) != 0) {
        const theta = loadValue(p, i, paramBf16);
        const decayed = blockwise8bitDecayedParam(theta, decay);
        const step = blockwise8bitStep(negStepSize, m, v, invSqrtBc2, eps);
        if (kahan) {
          const c = blockwise8bitShiftedUpdate(loadValue(shift, i, paramBf16), decayed, theta, step, paramBf16);
          const next = storeValue(p, i, blockwise8bitKahanParam(theta, c), paramBf16);
          storeValue(shift, i, blockwise8bitNewShift(c, theta, next), paramBf16);
        } else {
          storeValue(p, i, blockwise8bitNewParam(decayed, step), paramBf16);
        }
      }
    }
    if (new2 == Infinity) {
      // Rare: a v overflowed float32. Its m and v reset to 0 (its θ, stepped by m/∞ = 0, only decayed)
      // and the absmax is taken without it, so the block stays finite (src/rules/blockwise8bit.ts).
      new1 = 0;
      new2 = 0;
      for (let i = start; i < end; i++) {
        const at = (i - start) << 2;
        if (load<f32>(s2 + at) == Infinity) {
          store<f32>(s1 + at, 0);
          store<f32>(s2 + at, 0);
        }
        new1 = max<f32>(new1, abs<f32>(load<f32>(s1 + at)));
        new2 = max<f32>(new2, load<f32>(s2 + at));
      }
    }
    store<f32>(absmax1 + (block << 2), new1);
    store<f32>(absmax2 + (block << 2), new2);
    // A block of zeros keeps x = 0 (every code then dequantizes to 0 anyway).
    const inv1: f32 = new1 > 0 ? 1 / new1 : 1, inv2: f32 = new2 > 0 ? 1 / new2 : 1;
    const vInv1 = f32x4.splat(inv1), vInv2 = f32x4.splat(inv2);
    // Pass 2 also checks the next block's gradients (the loop has room: it does no division), in
    // one loop when the two blocks have as many whole vectors, as all but the last one or two do.
    const nextStart = start + 256, nextWholeVectors = wholeVectorsOf(nextStart, count);
    if (nextWholeVectors - nextStart == wholeVectors - start) {
      finite = !v128.any_true(secondPass(codes1, codes2, signedTable, unsignedTable, start, wholeVectors, vInv1, vInv2, s1, s2, g, gradBf16, true));
    } else {
      secondPass(codes1, codes2, signedTable, unsignedTable, start, wholeVectors, vInv1, vInv2, s1, s2, g, gradBf16, false);
      finite = allFinite(g, nextStart, nextWholeVectors, gradBf16);
    }
    for (let i = wholeVectors; i < end; i++) {
      const m = load<f32>(s1 + ((i - start) << 2));
      const v = load<f32>(s2 + ((i - start) << 2));
      store<u8>(codes1 + i, <u8>quantizeWithTable(signedTable, blockwise8bitNormalized(m, inv1)));
      store<u8>(codes2 + i, <u8>quantizeWithTable(unsignedTable, blockwise8bitNormalized(v, inv2)));
    }
  }
}

/**
 * Pass 1 over whole vectors of one block whose gradients are all finite: dequantize and update m and
 * v into s1 and s2, step the params, and return the new absmax of m and v in lanes 0 and 1.
 */
@inline function firstPass(
  p: usize, g: usize, codes1: usize, codes2: usize, shift: usize, start: usize, vectorEnd: usize,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool, kahan: bool,
  vSign: v128, vA1: v128, vA2: v128, vBeta1: v128, vOmb1: v128, vBeta2: v128, vOmb2: v128,
  vDecay: v128, vStep: v128, vInvSqrtBc2: v128, vEps: v128, s1: usize, s2: usize,
): v128 {
  let max1 = f32x4.splat(0), max2 = f32x4.splat(0);
  for (let i = start; i < vectorEnd; i += 4) {
    const gi = blockwise8bitGradientVec(loadVec(g, i, gradBf16), vSign);
    // m and v from the dequantized state
    const m = blockwise8bitFirstMomentVec(gatherMap(signedTable, codes1, i), vA1, vBeta1, vOmb1, gi);
    const v = blockwise8bitSecondMomentVec(gatherMap(unsignedTable, codes2, i), vA2, vBeta2, vOmb2, gi);
    v128.store(s1 + ((i - start) << 2), m);
    v128.store(s2 + ((i - start) << 2), v);
    // |m| is never NaN here, so the one-instruction pmax serves; v is never negative.
    max1 = f32x4.pmax(max1, f32x4.abs(m));
    max2 = f32x4.pmax(max2, v);
    // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε)
    const theta = loadVec(p, i, paramBf16);
    const decayed = blockwise8bitDecayedParamVec(theta, vDecay);
    const step = blockwise8bitStepVec(vStep, m, v, vInvSqrtBc2, vEps);
    if (kahan) {
      const c = blockwise8bitShiftedUpdateVec(loadVec(shift, i, paramBf16), decayed, theta, step, paramBf16);
      const next = storeVec(p, i, blockwise8bitKahanParamVec(theta, c), paramBf16);
      storeVec(shift, i, blockwise8bitNewShiftVec(c, theta, next), paramBf16);
    } else {
      storeVec(p, i, blockwise8bitNewParamVec(decayed, step), paramBf16);
    }
  }
  // lanes 0 and 1: the largest lane of max1 and of max2
  const halves = f32x4.pmax(v128.shuffle<f32>(max1, max2, 0, 1, 4, 5), v128.shuffle<f32>(max1, max2, 2, 3, 6, 7));
  return f32x4.pmax(v128.shuffle<f32>(halves, halves, 0, 2, 0, 2), v128.shuffle<f32>(halves, halves, 1, 3, 1, 3));
}

/**
 * Pass 2 over whole vectors: requantize the block's m and v from s1 and s2. With `checkNext`, also
 * folds in the next block's gradients (withNonFinite) and returns the result: nonzero if one is not finite.
 */
@inline function secondPass(
  codes1: usize, codes2: usize, signedTable: usize, unsignedTable: usize, start: usize, wholeVectors: usize,
  vInv1: v128, vInv2: v128, s1: usize, s2: usize, g: usize, gradBf16: bool, checkNext: bool,
): v128 {
  let nonFinite = i32x4.splat(0);
  for (let i = start; i < wholeVectors; i += 4) {
    const m = v128.load(s1 + ((i - start) << 2));
    const v = v128.load(s2 + ((i - start) << 2));
    const codes = quantizePair(signedTable, unsignedTable, blockwise8bitNormalizedVec(m, vInv1), blockwise8bitNormalizedVec(v, vInv2));
    v128.store32_lane(codes1 + i, codes, 0);
    v128.store32_lane(codes2 + i, codes, 1);
    if (checkNext) nonFinite = withNonFinite(nonFinite, g, i + 256, gradBf16);
  }
  return nonFinite;
}

/** StableAdamW's pass for 8-bit state: Σ g²/max(v/(1−β2^t), ε²) over the updated v, without writing. */
export function adam8bitRmsSum(
  g: usize, codes2: usize, absmax2: usize, n: i32, unsignedTable: usize, gradBf16: bool,
  gradSign: f32, beta2: f32, oneMinusBeta2: f32, biasCorrection2: f32, epsSquared: f32,
): f64 {
  let sum: f64 = 0;
  for (let i: usize = 0; i < <usize>n; i++) {
    const gi = blockwise8bitGradient(loadValue(g, i, gradBf16), gradSign);
    if (!isFinite<f32>(gi)) continue;
    const v = blockwise8bitSecondMoment(mapValue(unsignedTable, <u32>load<u8>(codes2 + i)), load<f32>(absmax2 + ((i >> 8) << 2)), beta2, oneMinusBeta2, gi);
    sum += stabilizationTerm(gi, blockwise8bitDebiasedSecondMoment(v, biasCorrection2), epsSquared);
  }
  return sum;
}
