/**
 * The optimizers under the names users know. Each is {@link AdamOptimizer} with its own defaults.
 * @module
 */
import type { OptimizerOptions, Param, ParamGroup } from '../types.js';
import { AdamOptimizer, TORCH_ADAMW_DEFAULTS } from './adam-optimizer.js';

/**
 * AdamW (Loshchilov & Hutter 2019), exactly as `torch.optim.AdamW`:
 *
 * $$
 * \begin{aligned}
 * \theta_t &\leftarrow \theta_{t-1}(1 - \eta\lambda) \\
 * m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
 * \theta_t &\leftarrow \theta_t - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}
 * \end{aligned}
 * $$
 *
 * Defaults are PyTorch's: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01.
 *
 * @example
 * ```ts
 * import { AdamW } from 'adamw-lab';
 * const opt = new AdamW(model.params, { lr: 1e-4, weightDecay: 0.01 });
 * // after computing grads into p.grad:
 * await opt.step();
 * opt.zeroGrad();
 * ```
 */
export class AdamW extends AdamOptimizer {
  constructor(params: Param[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'AdamW', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS }, params, options);
  }
}

/**
 * Adam (Kingma & Ba 2015) with coupled L2 weight decay, exactly as `torch.optim.Adam`: the decay is
 * added to the gradient, $g_t \leftarrow g_t + \lambda\theta_{t-1}$, so it is scaled by
 * $1/(\sqrt{\hat v_t}+\epsilon)$ like the rest of the gradient. Defaults are PyTorch's (weightDecay 0).
 */
export class Adam extends AdamOptimizer {
  constructor(params: Param[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'Adam', weightDecayMode: 'l2', defaults: { ...TORCH_ADAMW_DEFAULTS, weightDecay: 0 } }, params, options);
  }
}
