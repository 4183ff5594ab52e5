// AssemblyScript: AdamW with bitsandbytes' 8-bit blockwise state (src/rules/blockwise8bit.ts is the
// readable version). Per block of 256: a first pass finds the new absmax of m and v, a second
// recomputes the same moments (identical arithmetic), updates the params and requantizes.
//
// Quantization uses tables built by src/backends/cpu/quantization-tables.ts from the reference
// dQuantize: for each bf16-wide bucket of x's float bits (x >> 16), the code at the bucket's low end
// and the largest x in the bucket that still maps to it. code = table[b] + (x > threshold[b]), which
// equals bitsandbytes' 7-step binary search for every float x, at the cost of one lookup.
// @ts-nocheck  -- AssemblyScript types.
import { loadValue, loadVec, rounded, roundedVec, stabilizationTerm, storeValue, storeVec } from './common';

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

/** Map values of the 4 codes at codes + i, as f32x4 (a gather: wasm SIMD has none). */
@inline function gatherMap(table: usize, codes: usize, i: usize): v128 {
  const c = load<u32>(codes + i);
  let out = f32x4.splat(mapValue(table, c & 0xff));
  out = f32x4.replace_lane(out, 1, mapValue(table, (c >>> 8) & 0xff));
  out = f32x4.replace_lane(out, 2, mapValue(table, (c >>> 16) & 0xff));
  return f32x4.replace_lane(out, 3, mapValue(table, c >>> 24));
}

/**
 * Quantize x (= value / absmax) with the table; for m (signed), keep the sign of the value.
 * bitsandbytes moves one code toward the value when the code's sign differs from it. The nearest code
 * of a positive x is never negative, and of a negative x never positive, so that happens only when a
 * negative value (or −0) rounds to code 127, which is +0: it becomes 126.
 */
@inline function quantizeOne(table: usize, x: f32, value: f32, signed: bool): u32 {
  const code = quantizeWithTable(table, x);
  return signed && code == 127 && (reinterpret<u32>(value) >>> 31) != 0 ? 126 : code;
}

/**
 * Four codes packed little-endian into a u32, as quantizeOne lane by lane: the bucket indices come
 * from one SIMD shift, codes and thresholds are gathered, and the compare and sign fix are vector ops.
 */
@inline function quantizeVec(table: usize, x: v128, value: v128, signed: bool): u32 {
  const buckets = i32x4.shr_u(x, 16);
  const b0 = <usize>i32x4.extract_lane(buckets, 0), b1 = <usize>i32x4.extract_lane(buckets, 1);
  const b2 = <usize>i32x4.extract_lane(buckets, 2), b3 = <usize>i32x4.extract_lane(buckets, 3);
  const codesBase = table + QUANTIZATION_CODES_OFFSET, thresholdsBase = table + QUANTIZATION_THRESHOLDS_OFFSET;
  let codes = i32x4.splat(<i32>load<u8>(codesBase + b0));
  codes = i32x4.replace_lane(codes, 1, <i32>load<u8>(codesBase + b1));
  codes = i32x4.replace_lane(codes, 2, <i32>load<u8>(codesBase + b2));
  codes = i32x4.replace_lane(codes, 3, <i32>load<u8>(codesBase + b3));
  let thresholds = f32x4.splat(load<f32>(thresholdsBase + (b0 << 2)));
  thresholds = f32x4.replace_lane(thresholds, 1, load<f32>(thresholdsBase + (b1 << 2)));
  thresholds = f32x4.replace_lane(thresholds, 2, load<f32>(thresholdsBase + (b2 << 2)));
  thresholds = f32x4.replace_lane(thresholds, 3, load<f32>(thresholdsBase + (b3 << 2)));
  // code + (x > threshold): the comparison mask is −1 where true.
  codes = i32x4.sub(codes, f32x4.gt(x, thresholds));
  if (signed) {
    // A negative value (or −0) that rounded to code 127 (+0) moves to 126.
    const fix = v128.and(i32x4.eq(codes, i32x4.splat(127)), i32x4.lt_s(value, i32x4.splat(0)));
    codes = i32x4.add(codes, fix);
  }
  const bytes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(codes, codes), i16x8.splat(0));
  return <u32>i32x4.extract_lane(bytes, 0);
}

/**
 * One 8-bit AdamW step over n elements (n a multiple of 256 except for a tensor's last block).
 * `shift` (0 for none) is diffusion-pipe's Kahan buffer in the param's dtype. Scalars use the
 * (possibly StableAdamW-scaled) lr: decay = 1 − η·λ, stepSize = η/(1 − β1^t). `scratch` holds 512
 * floats: one block's updated m and v between the two passes.
 */
export function adam8bitStep(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, stepSize: f32, invSqrtBc2: f32, eps: f32, scratch: usize,
): void {
  const count = <usize>n;
  const vSign = f32x4.splat(gradSign), vBeta1 = f32x4.splat(beta1), vOmb1 = f32x4.splat(oneMinusBeta1);
  const vBeta2 = f32x4.splat(beta2), vOmb2 = f32x4.splat(oneMinusBeta2), vZero = f32x4.splat(0);
  const vDecay = f32x4.splat(decay), vStep = f32x4.splat(stepSize), vInvSqrtBc2 = f32x4.splat(invSqrtBc2), vEps = f32x4.splat(eps);
  const s1 = scratch, s2 = scratch + 1024;
  for (let start: usize = 0, block: usize = 0; start < count; start += 256, block++) {
    const end = min<usize>(start + 256, count);
    const vectorEnd = start + ((end - start) & ~(<usize>3));
    const a1 = load<f32>(absmax1 + (block << 2));
    const a2 = load<f32>(absmax2 + (block << 2));
    const vA1 = f32x4.splat(a1), vA2 = f32x4.splat(a2);
    // Pass 1: dequantize, update m and v (0 where g is not finite), keep them, take the new absmax.
    let max1 = vZero, max2 = vZero;
    for (let i = start; i < vectorEnd; i += 4) {
      const gi = f32x4.mul(loadVec(g, i, gradBf16), vSign);
      const finite = f32x4.eq(f32x4.sub(gi, gi), vZero);
      const m = v128.and(f32x4.add(f32x4.mul(f32x4.mul(gatherMap(signedTable, codes1, i), vA1), vBeta1), f32x4.mul(vOmb1, gi)), finite);
      const v = v128.and(f32x4.add(f32x4.mul(f32x4.mul(gatherMap(unsignedTable, codes2, i), vA2), vBeta2), f32x4.mul(f32x4.mul(vOmb2, gi), gi)), finite);
      v128.store(s1 + ((i - start) << 2), m);
      v128.store(s2 + ((i - start) << 2), v);
      max1 = f32x4.max(max1, f32x4.abs(m));
      max2 = f32x4.max(max2, f32x4.abs(v));
    }
    let new1 = max<f32>(max<f32>(f32x4.extract_lane(max1, 0), f32x4.extract_lane(max1, 1)), max<f32>(f32x4.extract_lane(max1, 2), f32x4.extract_lane(max1, 3)));
    let new2 = max<f32>(max<f32>(f32x4.extract_lane(max2, 0), f32x4.extract_lane(max2, 1)), max<f32>(f32x4.extract_lane(max2, 2), f32x4.extract_lane(max2, 3)));
    for (let i = vectorEnd; i < end; i++) {
      const s = moments(g, codes1, codes2, signedTable, unsignedTable, i, gradBf16, a1, a2, gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2);
      store<f32>(s1 + ((i - start) << 2), f32x4.extract_lane(s, 0));
      store<f32>(s2 + ((i - start) << 2), f32x4.extract_lane(s, 1));
      new1 = max<f32>(new1, abs<f32>(f32x4.extract_lane(s, 0)));
      new2 = max<f32>(new2, abs<f32>(f32x4.extract_lane(s, 1)));
    }
    store<f32>(absmax1 + (block << 2), new1);
    store<f32>(absmax2 + (block << 2), new2);
    // Normalizing by the absmax: 0 when the block is all zeros (then every code dequantizes to 0).
    const vNew1 = f32x4.splat(new1 > 0 ? new1 : 1), vNew2 = f32x4.splat(new2 > 0 ? new2 : 1);
    // Pass 2: step the params, requantize.
    for (let i = start; i < vectorEnd; i += 4) {
      const m = v128.load(s1 + ((i - start) << 2));
      const v = v128.load(s2 + ((i - start) << 2));
      const gi = loadVec(g, i, gradBf16);
      const finite = f32x4.eq(f32x4.sub(gi, gi), vZero);
      // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε)
      const theta = loadVec(p, i, paramBf16);
      const decayed = f32x4.mul(theta, vDecay);
      const step = f32x4.mul(vStep, f32x4.div(m, f32x4.add(f32x4.mul(f32x4.sqrt(v), vInvSqrtBc2), vEps)));
      if (shift != 0) {
        const c = roundedVec(f32x4.sub(f32x4.add(loadVec(shift, i, paramBf16), f32x4.sub(decayed, theta)), step), paramBf16);
        // Elements with a non-finite gradient keep θ and shift as they were.
        const next = v128.bitselect(roundedVec(f32x4.add(theta, c), paramBf16), theta, finite);
        storeVec(p, i, next, paramBf16);
        storeVec(shift, i, v128.bitselect(f32x4.add(c, f32x4.sub(theta, next)), loadVec(shift, i, paramBf16), finite), paramBf16);
      } else {
        storeVec(p, i, v128.bitselect(f32x4.sub(decayed, step), theta, finite), paramBf16);
      }
      store<u32>(codes1 + i, quantizeVec(signedTable, f32x4.div(m, vNew1), m, true));
      store<u32>(codes2 + i, quantizeVec(unsignedTable, f32x4.div(v, vNew2), v, false));
    }
    for (let i = vectorEnd; i < end; i++) {
      const m = load<f32>(s1 + ((i - start) << 2));
      const v = load<f32>(s2 + ((i - start) << 2));
      if (isFinite<f32>(loadValue(g, i, gradBf16))) {
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
      store<u8>(codes1 + i, <u8>quantizeOne(signedTable, new1 > 0 ? m / new1 : 0, m, true));
      store<u8>(codes2 + i, <u8>quantizeOne(unsignedTable, new2 > 0 ? v / new2 : 0, v, false));
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
    sum += stabilizationTerm(gi, v / biasCorrection2, epsSquared);
  }
  return sum;
}
