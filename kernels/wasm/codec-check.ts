// AssemblyScript entry point of the arithmetic codec alone (build/wasm/codec.wasm), over arrays,
// for `npm run check:codec` and test/codec.test.ts, which compare it with the tables.
// @ts-nocheck  -- AssemblyScript types.
import { decodeSigned, decodeUnsigned, encodeSigned, encodeUnsigned } from './dynamic-map-codec';

/** Decode n codes (u8 at `codes`) into float32s at `out` (n a multiple of 4). */
export function decodeCodes(codes: usize, out: usize, n: i32, signed: bool): void {
  for (let i: usize = 0; i < <usize>n; i += 4) {
    const c = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(codes + i)));
    v128.store(out + (i << 2), signed ? decodeSigned(c) : decodeUnsigned(c));
  }
}

/** Encode the n float32s whose bit patterns are first, first + 1, … into u8 codes at `out` (n a multiple of 4). */
export function encodeBitRange(first: u32, out: usize, n: i32, signed: bool): void {
  let bits = i32x4.add(i32x4.splat(first), i32x4(0, 1, 2, 3));
  for (let i: usize = 0; i < <usize>n; i += 4) {
    const codes = signed ? encodeSigned(bits) : encodeUnsigned(bits);
    const bytes = i16x8.narrow_i32x4_u(codes, codes);
    v128.store32_lane(out + i, i8x16.narrow_i16x8_u(bytes, bytes), 0);
    bits = i32x4.add(bits, i32x4.splat(4));
  }
}

/** Encode n float32s at `x` into u8 codes at `out` (n a multiple of 4). */
export function encodeValues(x: usize, out: usize, n: i32, signed: bool): void {
  for (let i: usize = 0; i < <usize>n; i += 4) {
    const v = v128.load(x + (i << 2));
    const codes = signed ? encodeSigned(v) : encodeUnsigned(v);
    const bytes = i16x8.narrow_i32x4_u(codes, codes);
    v128.store32_lane(out + i, i8x16.narrow_i16x8_u(bytes, bytes), 0);
  }
}
