/**
 * StableAdamW's per-element term, which its update clipping sums over a tensor:
 * RMS = √(mean(g²/max(v̂, ε²))) and η_t = η/max(1, RMS) (`stabilizationTerm` and `stabilizedLr` in
 * src/rules/debiased.ts). Shared by the debiased and blockwise8bit kernels' RMS passes: kernels/wasm/common.ts
 * (summed in float64), kernels/wgsl/common.wgsl (float32) and `rmsSum` in kernels/onnx/graphs.ts.
 */
import { div, ExpressionTable, max, mul, sqrt } from './expression.js';

export const stableTable = new ExpressionTable('stable', 'vec4<f32>');
const t = stableTable;

// Element values: g_t (signed) and v̂_t, the bias-corrected second moment; ε² per tensor.
const g = t.value('g'), vHat = t.value('vHat');

// $$r = g_t/\sqrt{\max(\hat v_t, \epsilon^2)}$$  (squared after the division, so g² cannot overflow; v̂ = +∞ gives 0)
const ratio = t.row('ratio', 'r ← g / √max(v̂, ε²)', div(g, sqrt(max(vHat, t.scalar('epsSquared')))));

// $$g_t^2/\max(\hat v_t, \epsilon^2) = r^2$$
t.row('term', 'g²/max(v̂, ε²) = r·r', mul(ratio, ratio));
