/**
 * bfloat16 ⇄ float32. A bf16 value is the top 16 bits of a float32: same exponent range, 8 bits of
 * significand. Arrays of bf16 are Uint16Arrays of bit patterns.
 * @module
 */
import { fail, refuseUnknownKeys, showValue } from '../util/errors.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 value of a bf16 bit pattern (exact). */
export function bf16ToFloat(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/**
 * The bf16 bit pattern nearest to `x` (round to nearest, ties to even), after rounding `x` to float32.
 * NaN stays a quiet NaN with its sign; values past bf16's largest finite value round to ±Infinity.
 */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7FFF plus the lowest kept bit rounds the discarded half-word to nearest, ties to even.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * The bf16 bit pattern of `x` rounded stochastically: up with probability equal to the discarded
 * fraction, so the rounding is unbiased on average (E[bf16(x)] = x). `random` returns [0, 1).
 */
export function floatToBf16Stochastic(x: number, random: () => number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return floatToBf16(x);
  return ((bits + Math.floor(random() * 0x10000)) >>> 16) & 0xffff;
}

/** `x` rounded to the nearest bf16 value, as a number: the storage rounding of a bf16 tensor. */
export function roundToBf16(x: number): number {
  return bf16ToFloat(floatToBf16(x));
}

/** Options of {@link toBf16}. */
export interface Bf16RoundingOptions {
  /** `'nearest'` (default): round to nearest, ties to even. `'stochastic'`: unbiased random rounding. */
  rounding?: 'nearest' | 'stochastic';
  /** Uniform [0, 1) source for stochastic rounding (default Math.random; pass a seeded one to reproduce). */
  random?: () => number;
}

/** Convert float values to bf16 bit patterns. */
export function toBf16(values: ArrayLike<number>, options: Bf16RoundingOptions = {}, out?: Uint16Array): Uint16Array {
  const given: unknown = values; // checked as unknown, so the narrowing leaves `values` typed
  if (!(ArrayBuffer.isView(given) || Array.isArray(given))) {
    fail(TypeError, 'toBf16', 'values', `${showValue(values)} is not an array of numbers`, 'pass a Float32Array, Float64Array or number[]');
  }
  if (typeof options !== 'object' || options === null) {
    fail(TypeError, 'toBf16', 'options', `${showValue(options)} is not an options object`, "pass { rounding?: 'nearest' | 'stochastic', random? } or nothing");
  }
  if (out !== undefined && !(out instanceof Uint16Array && out.length === values.length)) {
    fail(TypeError, 'toBf16', 'out', `${showValue(out)} is invalid`, `out must be a Uint16Array of the values' length, ${values.length}`);
  }
  refuseUnknownKeys('toBf16', 'options', options, ['rounding', 'random']);
  if (options.rounding !== undefined && options.rounding !== 'nearest' && options.rounding !== 'stochastic') {
    fail(TypeError, 'toBf16', 'options', `rounding = ${showValue(options.rounding)} is not supported`, "rounding must be 'nearest' or 'stochastic'");
  }
  if (options.random !== undefined && (typeof options.random !== 'function' || options.rounding !== 'stochastic')) {
    fail(TypeError, 'toBf16', 'options', `random = ${showValue(options.random)} is not used`, "random is a () => number in [0, 1), for rounding 'stochastic' only");
  }
  // Into a fresh array first, so that a refused random() leaves the caller's `out` untouched.
  const bits = new Uint16Array(values.length);
  if (options.rounding === 'stochastic') {
    const random = options.random ?? Math.random;
    const checkedRandom = (): number => {
      const r: unknown = random();
      if (!(typeof r === 'number' && r >= 0 && r < 1)) {
        fail(RangeError, 'toBf16', 'options.random', `returned ${showValue(r)}`, 'random() must return a number in [0, 1)');
      }
      return r;
    };
    for (let i = 0; i < values.length; i++) bits[i] = floatToBf16Stochastic(values[i]!, checkedRandom);
  } else {
    for (let i = 0; i < values.length; i++) bits[i] = floatToBf16(values[i]!);
  }
  if (!out) return bits;
  out.set(bits);
  return out;
}

/** Convert bf16 bit patterns to float32 values (exact): each becomes the top half of a float32's bits. */
export function fromBf16(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const words = new Uint32Array(out.buffer, out.byteOffset, bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return out;
}
