/**
 * Rounding a float32 to bf16, to nearest with ties to even, on the float's bits: the formula of
 * `floatToBf16` in src/rules/bf16.ts. Used by every bf16 store of the AssemblyScript kernels (one lane
 * and four) and the WGSL kernels (kernels/wasm/common.ts, kernels/wgsl/common.wgsl), which keep the
 * NaN test by hand (a branch on one lane, a lane select on four). The ONNX graphs round with a Cast
 * to BFLOAT16 and back, which ONNX Runtime does to nearest, ties to even.
 */
import { and, bits, bitsAdd, ExpressionTable, or, shiftRight } from './expression.js';

export const bf16Table = new ExpressionTable('bf16', 'u32');
const t = bf16Table;

// The float32's bits.
const x = t.value('bits');

// Nearest, ties to even: add 0x7fff and the lowest bit that stays, then drop the low 16 bits.
// $$b = \bigl(x + \mathtt{0x7fff} + (\lfloor x/2^{16}\rfloor \bmod 2)\bigr) \gg 16$$  (x not NaN)
t.row('roundedBits', 'bf16 ← (bits + 0x7fff + ((bits >> 16) & 1)) >> 16   (nearest, ties to even; not for NaN)',
  shiftRight(bitsAdd(bitsAdd(x, bits(0x7fff)), and(shiftRight(x, 16), bits(1))), 16));

// A NaN keeps its sign and top payload bits and is made quiet: $$b = (x \gg 16) \mathbin{|} \mathtt{0x40}$$
t.row('quietNanBits', 'bf16 ← (bits >> 16) | 0x40   (NaN stays a quiet NaN)', or(shiftRight(x, 16), bits(0x40)));
