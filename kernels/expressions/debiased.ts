/**
 * The debiased family's per-element formulas (optimi's AdamW and StableAdamW: debiased moments, params
 * and moments in fp32 or bf16, optionally through a bf16 Kahan compensation c), read next to
 * `debiasedReferenceStep` in src/rules/debiased.ts. The scalars are `DebiasedStepScalars`; StableAdamW's
 * η_t = η/max(1, RMS) arrives as negStepSize and decay. Used by kernels/wasm/debiased.ts,
 * kernels/wgsl/debiased.wgsl and the `debiased` graphs of kernels/onnx/graphs.ts.
 */
import type { DebiasedStepScalars } from '../../src/rules/debiased.js';
import { add, div, ExpressionTable, mul, round, sqrt, sub } from './expression.js';

export const debiasedTable = new ExpressionTable('debiased', 'vec4<f32>');
const t = debiasedTable;
const scalar = (name: keyof DebiasedStepScalars) => t.scalar(name);
const paramBf16 = t.flag('paramBf16'), momentsBf16 = t.flag('momentsBf16');

// Element values: θ_{t−1}, ∇L(θ_{t−1}), m̂_{t−1}, v̂_{t−1}, and c, the Kahan compensation (bf16).
const param = t.value('param'), grad = t.value('grad'), m = t.value('m'), v = t.value('v'), c = t.value('c');

// $$g_t = \pm\nabla L(\theta_{t-1})$$  (gradSign = −1 when maximizing)
const g = t.row('gradient', 'g ← ±∇', mul(grad, scalar('gradSign')));

// $$\hat m_t = \hat m_{t-1} + (1-\hat\beta_1)(g_t - \hat m_{t-1})$$  (β̂1 = (β1^t − β1)/(β1^t − 1): already debiased)
const mNew = t.row('firstMoment', 'm ← m + (1 − β̂1)·(g − m)', add(m, mul(scalar('oneMinusBeta1Hat'), sub(g, m))), { stored: momentsBf16 });

// $$\hat v_t = \hat\beta_2 \hat v_{t-1} + (1-\hat\beta_2)\, g_t^2$$
const vNew = t.row('secondMoment', 'v ← β̂2·v + (1 − β̂2)·g·g', add(mul(scalar('beta2Hat'), v), mul(mul(scalar('oneMinusBeta2Hat'), g), g)), { stored: momentsBf16 });

// $$\theta \leftarrow \operatorname{round}\bigl(\theta\,(1 - \eta_t\lambda)\bigr)$$  (to θ's dtype; kernels skip it when decay is exactly 1)
const theta = t.row('decayedParam', 'θ ← round(θ·(1 − η_t·λ))', round(mul(param, scalar('decay')), paramBf16));

// $$u = -\eta_t\,\hat m_t/(\sqrt{\hat v_t} + \epsilon)$$  (ε outside the root)
const update = t.row('paramUpdate', 'u ← −η_t·m̂ / (√v̂ + ε)', div(mul(scalar('negStepSize'), mNew), add(sqrt(vNew), scalar('eps'))));

// $$\theta_t = \theta + u$$  (without Kahan summation)
t.row('newParam', 'θ ← θ + u', add(theta, update), { stored: paramBf16 });

// Kahan summation: $$c \leftarrow \operatorname{round}_{bf16}(c + u)$$
const compensated = t.row('compensatedUpdate', 'c ← round_bf16(c + u)', round(add(c, update), true));
// $$\theta_t = \theta + c$$
const next = t.row('kahanParam', 'θ\' ← θ + c', add(theta, compensated), { stored: paramBf16 });
// $$c \leftarrow c + (\theta - \theta_t)$$  (what θ's dtype could not hold)
t.row('compensation', 'c ← c + (θ − θ\')', add(compensated, sub(theta, next)), { stored: true });
