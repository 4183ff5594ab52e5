/**
 * The blockwise8bit family's per-element formulas (AdamW with bitsandbytes' 8-bit blockwise state,
 * and diffusion-pipe's Kahan `shift` for AdamW8bitKahan), read next to `adam8bitReferenceStep` in
 * src/rules/blockwise8bit.ts. The scalars are `Adam8bitStepScalars`. The code lookups (dequantizing
 * through the map, quantizing through the tables), the masks for non-finite gradients and overflowed
 * v, and the block's absmax reduction stay hand-written in the kernels: kernels/wasm/blockwise8bit.ts,
 * kernels/wgsl/blockwise8bit.wgsl and the `blockwise8bit` graphs of kernels/onnx/graphs.ts.
 */
import type { Adam8bitStepScalars } from '../../src/rules/blockwise8bit.js';
import { add, div, ExpressionTable, mul, round, sqrt, sub } from './expression.js';

export const blockwise8bitTable = new ExpressionTable('blockwise8bit', 'vec4<f32>');
const t = blockwise8bitTable;
const scalar = (name: keyof Adam8bitStepScalars) => t.scalar(name);
const paramBf16 = t.flag('paramBf16');

// Element values: θ_{t−1}, ∇L(θ_{t−1}), the map values of m's and v's codes, the updated m and v
// (as the kernel holds them after its masks), and `shift`; per block: absmax1, absmax2 and the
// reciprocal of the new absmax.
const param = t.value('param'), grad = t.value('grad');
const mappedFirst = t.value('mappedFirst'), mappedSecond = t.value('mappedSecond');
const m = t.value('m'), v = t.value('v'), shift = t.value('shift'), moment = t.value('moment');

// $$g_t = \pm\nabla L(\theta_{t-1})$$  (gradSign = −1 when maximizing)
const g = t.row('gradient', 'g ← ±∇', mul(grad, scalar('gradSign')));

// $$m_t = \beta_1 \cdot (\mathrm{map}_s[q_1]\cdot a_1) + (1-\beta_1)\, g_t$$  (dequantized, then updated)
t.row('firstMoment', 'm ← β1·(map[code]·absmax1) + (1 − β1)·g', add(mul(mul(mappedFirst, t.scalar('absmax1')), scalar('beta1')), mul(scalar('oneMinusBeta1'), g)));

// $$v_t = \beta_2 \cdot (\mathrm{map}_u[q_2]\cdot a_2) + (1-\beta_2)\, g_t^2$$
t.row('secondMoment', 'v ← β2·(map[code]·absmax2) + (1 − β2)·g·g', add(mul(mul(mappedSecond, t.scalar('absmax2')), scalar('beta2')), mul(mul(scalar('oneMinusBeta2'), g), g)));

// $$\hat v_t = v_t/(1-\beta_2^t)$$  (StableAdamW's RMS pass)
t.row('debiasedSecondMoment', 'v̂ ← v / (1 − β2^t)', div(v, scalar('biasCorrection2')));

// $$\theta \leftarrow \theta\,(1 - \eta_t\lambda)$$  (decay first, in PyTorch's order)
const decayed = t.row('decayedParam', 'θ_d ← θ·(1 − η_t·λ)', mul(param, scalar('decay')));

// $$s = -\frac{\eta_t}{1-\beta_1^t}\cdot\frac{m_t}{\sqrt{v_t}\cdot\frac{1}{\sqrt{1-\beta_2^t}}+\epsilon}$$  (the signed step, added)
const step = t.row('step', 's ← (−η_t/(1 − β1^t))·(m / (√v·(1/√(1 − β2^t)) + ε))',
  mul(scalar('negStepSize'), div(m, add(mul(sqrt(v), scalar('invSqrtBiasCorrection2')), scalar('eps')))));

// $$\theta_t = \theta_d + s$$  (without Kahan summation)
t.row('newParam', 'θ ← θ_d + s', add(decayed, step), { stored: paramBf16 });

// diffusion-pipe's Kahan summation, in θ's dtype: $$c = \operatorname{round}\bigl(\mathit{shift} + (\theta_d - \theta) + s\bigr)$$
const c = t.row('shiftedUpdate', 'c ← round(shift + (θ_d − θ) + s)', round(add(add(shift, sub(decayed, param)), step), paramBf16));
// $$\theta_t = \theta + c$$
const next = t.row('kahanParam', 'θ\' ← θ + c', add(param, c), { stored: paramBf16 });
// $$\mathit{shift} \leftarrow c + (\theta - \theta_t)$$
t.row('newShift', 'shift ← c + (θ − θ\')', add(c, sub(param, next)), { stored: paramBf16 });

// Requantization input: $$x = m\cdot(1/a)$$  (bitsandbytes' kernel multiplies by the reciprocal, __fdividef)
t.row('normalized', 'x ← moment·(1/absmax)', mul(moment, t.scalar('inverseAbsmax')));
