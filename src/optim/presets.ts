/**
 * The optimizers under the names users know. Each is {@link AdamOptimizer} with its own defaults.
 * @module
 */
import type { AnyParam, GroupOptions, OptimizerOptions, ParamGroup } from '../types.js';
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
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'AdamW', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS }, params, options);
  }
}

/**
 * Adam (Kingma & Ba 2015) with coupled L2 weight decay, exactly as `torch.optim.Adam`: the decay is
 * added to the gradient, $g_t \leftarrow g_t + \lambda\theta_{t-1}$, so it is scaled by
 * $1/(\sqrt{\hat v_t}+\epsilon)$ like the rest of the gradient. Defaults are PyTorch's (weightDecay 0).
 */
export class Adam extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'Adam', weightDecayMode: 'l2', defaults: { ...TORCH_ADAMW_DEFAULTS, weightDecay: 0 } }, params, options);
  }
}

/**
 * bitsandbytes' `AdamW8bit`: AdamW with m and v kept as 8-bit blockwise codes (one float32 absmax per
 * 256 elements), about 2.03 bytes of state per param instead of 8. Tensors under 4096 elements keep
 * fp32 state, as in bitsandbytes. amsgrad is refused, as bitsandbytes refuses it.
 * Same as `new AdamW(params, { stateDtype: '8bit' })`.
 */
export class AdamW8bit extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'AdamW8bit', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS, variant: { stateDtype: '8bit' } }, params, options);
  }
}

/**
 * bitsandbytes' `PagedAdamW`: fp32 AdamW whose state lives in pages under a resident-memory budget,
 * spilled to a file, the next page prefetched while the current one updates. Results are
 * bit-identical to {@link AdamW}. Same as `new AdamW(params, { paged: true })`.
 */
export class PagedAdamW extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'PagedAdamW', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS, variant: { paged: true } }, params, options);
  }
}

/** bitsandbytes' `PagedAdamW8bit`: {@link AdamW8bit} with paged state. */
export class PagedAdamW8bit extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'PagedAdamW8bit', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS, variant: { stateDtype: '8bit', paged: true } }, params, options);
  }
}

/** optimi's defaults (betas 0.9/0.99, eps 1e-6, weightDecay 0.01). */
export const OPTIMI_DEFAULTS: Required<GroupOptions> = { ...TORCH_ADAMW_DEFAULTS, betas: [0.9, 0.99], eps: 1e-6 };

/**
 * optimi's `StableAdamW` (Wortsman et al. 2023): AdamW whose per-tensor step is scaled by
 * $\eta_t = \eta / \max(1, \mathrm{RMS}_t)$ with $\mathrm{RMS}_t = \sqrt{\operatorname{mean}(g_t^2/\max(\hat v_t, \epsilon^2))}$,
 * which clips updates when the gradient outgrows its running average; the decay uses $\eta_t$ too.
 * optimi's defaults: betas [0.9, 0.99], eps 1e-6, weightDecay 0.01. Same as `new AdamW(params, { stable: true, … })`.
 */
export class StableAdamW extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    super({ name: 'StableAdamW', weightDecayMode: 'decoupled', defaults: OPTIMI_DEFAULTS, variant: { stable: true } }, params, options);
  }
}

/** Options of {@link AdamW8bitKahan}: diffusion-pipe's `stabilize` is StableAdamW's scaling. */
export interface AdamW8bitKahanOptions extends OptimizerOptions {
  /** Apply StableAdamW's per-tensor lr scaling (diffusion-pipe's `stabilize`, default false). */
  stabilize?: boolean;
}

/**
 * diffusion-pipe's `AdamW8bitKahan`: 8-bit blockwise moments (as {@link AdamW8bit}) and bf16 params
 * updated through a Kahan-compensated `shift` buffer, optionally with StableAdamW's scaling.
 *
 * This is the algorithm diffusion-pipe intends, not a copy of its code. Its code (optimizers/adamw_8bit.py)
 * passes `shift` where bitsandbytes expects the param, so the weight decay scales `shift` and the
 * weights are never decayed; here the decay −η·λ·θ goes through the Kahan sum into θ. Its `stabilize`
 * reads state2's raw 8-bit codes as if they were v, before the update; here the RMS uses the updated,
 * dequantized, bias-corrected v̂, as StableAdamW defines it. It also reads bitsandbytes config keys
 * removed in bitsandbytes 0.50. Needs bf16 params (dtype: 'bf16').
 */
export class AdamW8bitKahan extends AdamOptimizer {
  constructor(params: AnyParam[] | ParamGroup[], options: AdamW8bitKahanOptions = {}) {
    const { stabilize, ...rest } = options;
    if (stabilize !== undefined && rest.stable !== undefined && stabilize !== rest.stable) {
      throw new Error(`AdamW8bitKahan: options: stabilize = ${stabilize} contradicts stable = ${rest.stable}; pass one of them`);
    }
    super(
      { name: 'AdamW8bitKahan', weightDecayMode: 'decoupled', defaults: TORCH_ADAMW_DEFAULTS, variant: { stateDtype: '8bit', kahan: true, stable: stabilize ?? false } },
      params, rest,
    );
  }
}
