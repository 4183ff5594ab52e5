/**
 * Lookup tables that let the 8-bit kernel quantize with one load and one compare, exactly as
 * bitsandbytes' dQuantize (src/rules/blockwise8bit.ts `quantize`) does with a 7-step binary search.
 *
 * The input x's float32 bits are cut into 65536 buckets by their top 16 bits (a bf16-wide range).
 * Within a bucket, dQuantize is monotone in x and changes code at most once (the maps' gaps are wider
 * than a bucket), so each bucket stores the code at its low end and the largest x that still maps to
 * it: code(x) = codes[b] + (x > thresholds[b]). Built once per process from `quantize` itself, so the
 * table cannot disagree with the reference.
 * @module
 */
import { bf16ToFloat } from '../../rules/bf16.js';
import { quantize } from '../../rules/blockwise8bit.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (bits: number): number => {
  u32[0] = bits >>> 0;
  return f32[0]!;
};

/** The tables for one map. */
export interface QuantizationTable {
  values: Float32Array;
  codes: Uint8Array;
  thresholds: Float32Array;
}

/** Build the tables of `map` (throws if a bucket would hold two code changes: the maps never do). */
export function buildQuantizationTable(map: Float32Array): QuantizationTable {
  const codes = new Uint8Array(65536);
  const thresholds = new Float32Array(65536).fill(Infinity);
  for (let b = 0; b < 65536; b++) {
    const negative = b >= 0x8000;
    // Bit patterns of the bucket, in increasing value: positive buckets count up, negative ones down.
    const lowBits = negative ? (b << 16) | 0xffff : b << 16;
    const highBits = negative ? b << 16 : (b << 16) | 0xffff;
    const low = fromBits(lowBits);
    if (Number.isNaN(low) || Number.isNaN(fromBits(highBits))) continue; // NaN buckets never occur (x = s/absmax)
    const codeLow = quantize(map, low);
    const codeHigh = quantize(map, fromBits(highBits));
    codes[b] = codeLow;
    if (codeHigh === codeLow) continue;
    if (codeHigh !== codeLow + 1) throw new Error(`adamw-lab: quantization bucket ${b} (${bf16ToFloat(b)}) spans codes ${codeLow}..${codeHigh}`);
    // Binary search, in value order, for the last x of the bucket that maps to codeLow.
    let lo = 0;
    let hi = 0xffff; // offsets from the bucket's low end, in value order
    const at = (k: number): number => fromBits(negative ? lowBits - k : lowBits + k);
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (quantize(map, at(mid)) === codeLow) lo = mid;
      else hi = mid;
    }
    thresholds[b] = at(lo);
  }
  return { values: Float32Array.from(map), codes, thresholds };
}
