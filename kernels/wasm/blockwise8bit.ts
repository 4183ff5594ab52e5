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
import { loadValue, loadVec, rounded, roundedVec, stabilizationTerm, storeValue, storeVec } from './common';

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
  const gi = loadValue(g, i, gradBf16) * gradSign;
  if (!isFinite<f32>(gi)) return f32x4(0, 0, gi, 0);
  const s1 = mapValue(signedTable, <u32>load<u8>(codes1 + i)) * absmax1 * beta1 + oneMinusBeta1 * gi;
  const s2 = mapValue(unsignedTable, <u32>load<u8>(codes2 + i)) * absmax2 * beta2 + oneMinusBeta2 * gi * gi;
  return f32x4(s1, s2, gi, 1);
}

/** Map values of the 4 codes at codes + i, as f32x4 (a gather: wasm SIMD has none, so one lane load each). */
@inline function gatherMap(table: usize, codes: usize, i: usize): v128 {
  const c = load<u32>(codes + i);
  let out = v128.load32_zero(table + (<usize>(c & 0xff) << 2));
  out = v128.load32_lane(table + (<usize>((c >>> 8) & 0xff) << 2), out, 1);
  out = v128.load32_lane(table + (<usize>((c >>> 16) & 0xff) << 2), out, 2);
  return v128.load32_lane(table + (<usize>(c >>> 24) << 2), out, 3);
}

/** The four 32-bit values at table + offsets[lane]. */
@inline function gather32(table: usize, offsets: v128): v128 {
  const low = i64x2.extract_lane(offsets, 0), high = i64x2.extract_lane(offsets, 1);
  let out = v128.load32_zero(table + <usize>(<u32>low));
  out = v128.load32_lane(table + <usize>(<u32>(low >>> 32)), out, 1);
  out = v128.load32_lane(table + <usize>(<u32>high), out, 2);
  return v128.load32_lane(table + <usize>(<u32>(high >>> 32)), out, 3);
}

/**
 * Four codes packed little-endian into a u32, as quantizeWithTable lane by lane: the entries are
 * gathered, and the compare is vector ops. `signed`: x may be negative (m; v never is).
 */
@inline function quantizeVec(table: usize, x: v128, signed: bool): u32 {
  // The entries of x's buckets: byte offset = (bits >> 16) · 4.
  const entries = gather32(table + QUANTIZATION_ENTRIES_OFFSET, i32x4.shl(i32x4.shr_u(x, 16), 2));
  // Position in the bucket, in value order: the low 16 bits, complemented where x is negative.
  const bits = signed ? v128.xor(x, i32x4.shr_s(x, 31)) : x;
  const positions = i32x4.shr_u(i32x4.shl(bits, 16), 16);
  const last = i32x4.shr_u(i32x4.shl(entries, 16), 16);
  // code + (position > last): the comparison mask is −1 where true.
  const codes = i32x4.sub(i32x4.shr_u(entries, 16), i32x4.gt_s(positions, last));
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
  // One copy of the loop per dtype combination, so the hot loop tests no flags (they are constants
  // once `blocks` is inlined). The plain fp32 case is what AdamW8bit runs on fp32 params.
  const kahan = shift != 0;
  if (!paramBf16 && !gradBf16 && !kahan) {
    blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, false, false, false,
      gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, stepSize, invSqrtBc2, eps, scratch);
  } else if (paramBf16 && kahan) {
    if (gradBf16) {
      blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, true, true, true,
        gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, stepSize, invSqrtBc2, eps, scratch);
    } else {
      blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, true, false, true,
        gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, stepSize, invSqrtBc2, eps, scratch);
    }
  } else {
    // The rarer combinations share one loop that tests the flags as it goes.
    blocksWithFlags(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, paramBf16, gradBf16, kahan,
      gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, stepSize, invSqrtBc2, eps, scratch);
  }
}

function blocksWithFlags(
  p: usize, g: usize, codes1: usize, codes2: usize, absmax1: usize, absmax2: usize, shift: usize, n: i32,
  signedTable: usize, unsignedTable: usize, paramBf16: bool, gradBf16: bool, kahan: bool,
  gradSign: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  decay: f32, stepSize: f32, invSqrtBc2: f32, eps: f32, scratch: usize,
): void {
  blocks(p, g, codes1, codes2, absmax1, absmax2, shift, n, signedTable, unsignedTable, paramBf16, gradBf16, kahan,
    gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2, decay, stepSize, invSqrtBc2, eps, scratch);
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
    let max1 = vZero, max2 = vZero;
    for (let i = start; i < vectorEnd; i += 4) {
      const gi = f32x4.mul(loadVec(g, i, gradBf16), vSign);
      const finite = f32x4.eq(f32x4.sub(gi, gi), vZero);
      // m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²  from the dequantized state
      const m = v128.and(f32x4.add(f32x4.mul(f32x4.mul(gatherMap(signedTable, codes1, i), vA1), vBeta1), f32x4.mul(vOmb1, gi)), finite);
      const v = v128.and(f32x4.add(f32x4.mul(f32x4.mul(gatherMap(unsignedTable, codes2, i), vA2), vBeta2), f32x4.mul(f32x4.mul(vOmb2, gi), gi)), finite);
      v128.store(s1 + ((i - start) << 2), m);
      v128.store(s2 + ((i - start) << 2), v);
      // |m| and |v| are never NaN here, so the one-instruction pmax serves.
      max1 = f32x4.pmax(max1, f32x4.abs(m));
      max2 = f32x4.pmax(max2, f32x4.abs(v));
      // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε)
      const theta = loadVec(p, i, paramBf16);
      const decayed = f32x4.mul(theta, vDecay);
      const step = f32x4.mul(vStep, f32x4.div(m, f32x4.add(f32x4.mul(f32x4.sqrt(v), vInvSqrtBc2), vEps)));
      if (kahan) {
        const c = roundedVec(f32x4.sub(f32x4.add(loadVec(shift, i, paramBf16), f32x4.sub(decayed, theta)), step), paramBf16);
        // Elements with a non-finite gradient keep θ and shift as they were.
        const next = v128.bitselect(roundedVec(f32x4.add(theta, c), paramBf16), theta, finite);
        storeVec(p, i, next, paramBf16);
        storeVec(shift, i, v128.bitselect(f32x4.add(c, f32x4.sub(theta, next)), loadVec(shift, i, paramBf16), finite), paramBf16);
      } else {
        storeVec(p, i, v128.bitselect(f32x4.sub(decayed, step), theta, finite), paramBf16);
      }
    }
    let new1 = max<f32>(max<f32>(f32x4.extract_lane(max1, 0), f32x4.extract_lane(max1, 1)), max<f32>(f32x4.extract_lane(max1, 2), f32x4.extract_lane(max1, 3)));
    let new2 = max<f32>(max<f32>(f32x4.extract_lane(max2, 0), f32x4.extract_lane(max2, 1)), max<f32>(f32x4.extract_lane(max2, 2), f32x4.extract_lane(max2, 3)));
    for (let i = vectorEnd; i < end; i++) {
      const s = moments(g, codes1, codes2, signedTable, unsignedTable, i, gradBf16, a1, a2, gradSign, beta1, oneMinusBeta1, beta2, oneMinusBeta2);
      const m = f32x4.extract_lane(s, 0), v = f32x4.extract_lane(s, 1);
      store<f32>(s1 + ((i - start) << 2), m);
      store<f32>(s2 + ((i - start) << 2), v);
      new1 = max<f32>(new1, abs<f32>(m));
      new2 = max<f32>(new2, abs<f32>(v));
      if (f32x4.extract_lane(s, 3) != 0) {
        const theta = loadValue(p, i, paramBf16);
        const decayed = theta * decay;
        const step = stepSize * (m / (sqrt<f32>(v) * invSqrtBc2 + eps));
        if (kahan) {
          const c = rounded(loadValue(shift, i, paramBf16) + (decayed - theta) - step, paramBf16);
          const next = storeValue(p, i, theta + c, paramBf16);
          storeValue(shift, i, c + (theta - next), paramBf16);
        } else {
          storeValue(p, i, decayed - step, paramBf16);
        }
      }
    }
    store<f32>(absmax1 + (block << 2), new1);
    store<f32>(absmax2 + (block << 2), new2);
    // A block of zeros keeps x = 0 (every code then dequantizes to 0 anyway).
    const inv1: f32 = new1 > 0 ? 1 / new1 : 1, inv2: f32 = new2 > 0 ? 1 / new2 : 1;
    const vInv1 = f32x4.splat(inv1), vInv2 = f32x4.splat(inv2);
    for (let i = start; i < vectorEnd; i += 4) {
      const m = v128.load(s1 + ((i - start) << 2));
      const v = v128.load(s2 + ((i - start) << 2));
      store<u32>(codes1 + i, quantizeVec(signedTable, f32x4.mul(m, vInv1), true));
      store<u32>(codes2 + i, quantizeVec(unsignedTable, f32x4.mul(v, vInv2), false));
    }
    for (let i = vectorEnd; i < end; i++) {
      const m = load<f32>(s1 + ((i - start) << 2));
      const v = load<f32>(s2 + ((i - start) << 2));
      store<u8>(codes1 + i, <u8>quantizeWithTable(signedTable, m * inv1));
      store<u8>(codes2 + i, <u8>quantizeWithTable(unsignedTable, v * inv2));
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
