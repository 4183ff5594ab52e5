/**
 * Lookup tables that let the 8-bit kernel quantize with one load and one compare, exactly as
 * bitsandbytes' dQuantize (src/rules/blockwise8bit.ts `quantize`, and `quantizeSigned` for m) does
 * with a 7-step binary search.
 *
 * The input x's float32 bits are cut into 65536 buckets by their top 16 bits (a bf16-wide range).
 * Within a bucket, dQuantize is monotone in x and changes code at most once (the maps' gaps are wider
 * than a bucket), so each bucket needs only the code at its low end and the last x that still maps to
 * it. That x shares the bucket's top 16 bits, so its position in the bucket (counted in value order,
 * 0..0xffff) is enough, and both fit one u32 entry, read with a single load:
 *
 *   entry[b] = code << 16 | last,   code(x) = (entry >>> 16) + (position(x) > (entry & 0xffff))
 *
 * position(x) is x's low 16 bits, complemented for negative x (whose bits count down in value order).
 * A bucket without a code change stores last = 0xffff, which no position exceeds. Built once per
 * process from `quantize` itself, so the table cannot disagree with the reference.
 * @module
 */
import { bf16ToFloat } from '../rules/bf16.js';
import { quantize, quantizeSigned } from '../rules/blockwise8bit.js';
import { quantizationMaps } from '../core/quantization-maps.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (bits: number): number => {
  u32[0] = bits >>> 0;
  return f32[0]!;
};

/** The tables for one map. */
export interface QuantizationTable {
  /** The map itself: code -> value, for dequantizing. */
  values: Float32Array;
  /** Per bucket (top 16 bits of x): code at the bucket's low end << 16 | position of the last x with that code. */
  entries: Uint32Array;
}

/** x's position in its bucket, in value order: the low 16 bits, complemented for negative x. */
export function positionInBucket(bits: number): number {
  return bits >>> 31 ? 0xffff - (bits & 0xffff) : bits & 0xffff;
}

/** The code of x (float32 bits `bits`) from a table: what the kernel computes. */
export function lookupCode(table: QuantizationTable, bits: number): number {
  const entry = table.entries[bits >>> 16]!;
  return (entry >>> 16) + (positionInBucket(bits) > (entry & 0xffff) ? 1 : 0);
}

/**
 * Build the tables of `map` (throws if a bucket would hold two code changes: the maps never do).
 * A signed map's table applies bitsandbytes' sign rule too (`quantizeSigned`): the sign of x is in
 * its bucket, so the kernel gets it for free.
 */
export function buildQuantizationTable(map: Float32Array, signed: boolean): QuantizationTable {
  const codeOf = (x: number): number => (signed ? quantizeSigned(map, x) : quantize(map, x));
  const entries = new Uint32Array(65536);
  for (let b = 0; b < 65536; b++) {
    const negative = b >= 0x8000;
    // Bit patterns of the bucket, in increasing value: positive buckets count up, negative ones down.
    const lowBits = negative ? (b << 16) | 0xffff : b << 16;
    const highBits = negative ? b << 16 : (b << 16) | 0xffff;
    const low = fromBits(lowBits);
    if (Number.isNaN(low) || Number.isNaN(fromBits(highBits))) continue; // NaN buckets never occur (x = s/absmax)
    const codeLow = codeOf(low);
    const codeHigh = codeOf(fromBits(highBits));
    entries[b] = (codeLow << 16) | 0xffff;
    if (codeHigh === codeLow) continue;
    if (codeHigh !== codeLow + 1) throw new Error(`adamw-lab: quantization bucket ${b} (${bf16ToFloat(b)}) spans codes ${codeLow}..${codeHigh}`);
    // Binary search, in value order, for the last x of the bucket that maps to codeLow.
    let lo = 0;
    let hi = 0xffff; // offsets from the bucket's low end, in value order
    const at = (k: number): number => fromBits(negative ? lowBits - k : lowBits + k);
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (codeOf(at(mid)) === codeLow) lo = mid;
      else hi = mid;
    }
    entries[b] = (codeLow << 16) | lo;
  }
  return { values: Float32Array.from(map), entries };
}

let built: { signed: QuantizationTable; unsigned: QuantizationTable } | undefined;
/** Both maps' tables (m: signed, v: unsigned), built once per process; every backend's 8-bit kernel reads these. */
export function quantizationTables(): { signed: QuantizationTable; unsigned: QuantizationTable } {
  built ??= { signed: buildQuantizationTable(quantizationMaps().signed, true), unsigned: buildQuantizationTable(quantizationMaps().unsigned, false) };
  return built;
}

/** Float32 bits → a key that orders every float (−0 before +0) as unsigned integers do. */
const orderKey = (bits: number): number => (bits >>> 31 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0);
const fromOrderKey = (key: number): number => fromBits(key >= 0x80000000 ? key & 0x7fffffff : ~key >>> 0);

/**
 * The 255 code boundaries of a map, for kernels that cannot read a float's bits (ONNX has no
 * bitcast): threshold[k] is the largest float32 whose code is at most k, so
 *
 *   code(x) = #{k : threshold[k] < x}   (+1 when x is +0 and a threshold is −0)
 *
 * which a branchless binary search over the sorted thresholds counts in 8 steps. Comparisons cannot
 * tell −0 from +0, and the signed map's sign rule sends −0 to code 126 but +0 to 127: the second term
 * restores that. Built from `quantize` / `quantizeSigned` themselves, which are monotone in x.
 */
export function quantizationThresholds(map: Float32Array, signed: boolean): { thresholds: Float32Array; negativeZeroBoundary: boolean } {
  const codeOf = (key: number): number => (signed ? quantizeSigned(map, fromOrderKey(key)) : quantize(map, fromOrderKey(key)));
  const lowest = orderKey(0xff800000); // −∞
  const highest = orderKey(0x7f800000); // +∞
  const thresholds = new Float32Array(255);
  let negativeZeroBoundary = false;
  for (let k = 0; k < 255; k++) {
    // The largest key whose code is ≤ k.
    let lo = lowest;
    let hi = highest;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (codeOf(mid) <= k) lo = mid;
      else hi = mid;
    }
    thresholds[k] = fromOrderKey(lo);
    if (Object.is(thresholds[k], -0)) negativeZeroBoundary = true;
  }
  return { thresholds, negativeZeroBoundary };
}

/** The code of x from {@link quantizationThresholds}: what the ONNX graph computes. */
export function thresholdCode(table: { thresholds: Float32Array; negativeZeroBoundary: boolean }, x: number): number {
  let position = 0;
  for (let step = 128; step >= 1; step >>= 1) {
    const probe = position + step - 1;
    if (probe < 255 && table.thresholds[probe]! < x) position += step;
  }
  return position + (table.negativeZeroBoundary && x === 0 && !Object.is(x, -0) ? 1 : 0);
}
