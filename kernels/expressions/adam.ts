/**
 * The adam family's per-element formulas (torch.optim.Adam / AdamW with fp32 state), read next to
 * `adamReferenceStep` in src/rules/adam.ts. The scalars are `AdamStepScalars` (`adamStepScalars`
 * computes them once per tensor in float64), which is why the rows multiply by 1/√(1 − β2^t) and by
 * −η/(1 − β1^t) where the rule divides: the kernels' rounding order, which every backend shares.
 * Used by kernels/wasm/adam.ts, kernels/wgsl/adam.wgsl and the `adam` graphs of kernels/onnx/graphs.ts.
 */
import type { AdamStepScalars } from '../../src/rules/adam.js';
import { add, div, ExpressionTable, maxNan, mul, sqrt, sub } from './expression.js';

export const adamTable = new ExpressionTable('adam', 'f32');
const t = adamTable;
const scalar = (name: keyof AdamStepScalars) => t.scalar(name);

// Element values: θ_{t−1}, ∇L(θ_{t−1}), m_{t−1}, v_{t−1}, v^max_{t−1}; `vUsed` is v_t, or v^max_t with amsgrad.
const param = t.value('param'), grad = t.value('grad'), m = t.value('m'), v = t.value('v');
const vMax = t.value('vMax'), vUsed = t.value('vUsed');

// $$\theta \leftarrow \theta\,(1 - \eta\lambda)$$  (decay = 1 for Adam)
const theta = t.row('decayedParam', 'θ ← θ·(1 − ηλ)   (decay = 1 for Adam)', mul(param, scalar('decay')));

// $$g_t \leftarrow \pm\nabla L(\theta_{t-1}) + \lambda\theta$$  (gradSign = −1 when maximizing; l2 = λ for Adam, 0 for AdamW)
const g = t.row('gradient', 'g ← ±∇ + λ·θ   (l2 = λ for Adam\'s coupled L2, 0 for AdamW)', add(mul(grad, scalar('gradSign')), mul(scalar('l2'), theta)));

// $$m_t = m_{t-1} + (1-\beta_1)(g_t - m_{t-1})$$  (torch's lerp, = β1·m + (1 − β1)·g)
const mNew = t.row('firstMoment', 'm ← m + (1 − β1)·(g − m)', add(m, mul(scalar('oneMinusBeta1'), sub(g, m))));

// $$v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2$$
const vNew = t.row('secondMoment', 'v ← β2·v + (1 − β2)·g·g', add(mul(v, scalar('beta2')), mul(mul(scalar('oneMinusBeta2'), g), g)));

// $$v^{max}_t = \max(v^{max}_{t-1}, v_t)$$  (amsgrad; NaN when either is, as torch.maximum)
t.row('maxSecondMoment', 'v_max ← max(v_max, v), NaN when either is NaN', maxNan(vMax, vNew));

// $$d = \sqrt{v_t}\cdot\frac{1}{\sqrt{1-\beta_2^t}} + \epsilon$$  (ε outside the root)
const denominator = t.row('denominator', 'd ← √v · (1/√(1 − β2^t)) + ε', add(mul(sqrt(vUsed), scalar('invSqrtBiasCorrection2')), scalar('eps')));

// $$\theta_t = \theta - \frac{\eta}{1-\beta_1^t}\cdot\frac{m_t}{d}$$  (negStepSize = −η/(1 − β1^t))
t.row('newParam', 'θ ← θ + (−η/(1 − β1^t))·m / d', add(theta, div(mul(scalar('negStepSize'), mNew), denominator)));
