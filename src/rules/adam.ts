/**
 * The Adam / AdamW update rule, written to be read. This file is the specification that every fast
 * kernel (WebAssembly SIMD, WGSL, ONNX) is tested against: run on Float64Array buffers it is the
 * float64 oracle; run on Float32Array buffers it is the readable `backend: 'js'` path.
 *
 * Source: PyTorch `torch/optim/adam.py` and `adamw.py` (single-tensor path); the
 * docs' Algorithms and sources page (`docs/algorithms.mdx`) writes the update out and lists its oracles.
 *
 * @module
 */

/** The hyperparameters every Adam-family rule shares. */
export interface CoreHyperparameters {
  /** Learning rate η. */
  lr: number;
  /** β1, the decay of the first-moment (momentum) average. */
  beta1: number;
  /** β2, the decay of the second-moment (squared-gradient) average. */
  beta2: number;
  /** ε, added to √v̂ (outside the square root, as PyTorch does). */
  eps: number;
  /** λ, the weight decay. */
  weightDecay: number;
}

/** What a per-tensor rule reports: StableAdamW's RMS (1 when the rule does not clip) and the lr it used. */
export interface TensorStepReport {
  /** RMS(g/√v̂) of the tensor, or 1. */
  rms: number;
  /** The learning rate the update used, η/max(1, rms) under StableAdamW. */
  lr: number;
}

/** Hyperparameters of one Adam-family update, with every default already resolved. */
export interface AdamHyperparameters extends CoreHyperparameters {
  /** Keep the running maximum of v and divide by it (Reddi et al. 2018). */
  amsgrad: boolean;
  /** Ascend instead of descend: the gradient is negated. */
  maximize: boolean;
  /**
   * `'decoupled'`: AdamW, θ ← θ·(1 − ηλ) before the Adam step (Loshchilov & Hutter 2019).
   * `'l2'`: Adam, g ← g + λθ, so the decay passes through m and v.
   */
  weightDecayMode: 'decoupled' | 'l2';
}

/** Any buffer the rule can update in place. */
export type NumericBuffer = Float32Array | Float64Array;

/**
 * One Adam/AdamW step at step number `t` (1 for the first step), updating `param`, `expAvg`,
 * `expAvgSq` and, with amsgrad, `maxExpAvgSq` in place. Intermediate values are JavaScript numbers
 * (float64); they are rounded only when stored, so with Float64Array buffers this is the float64
 * reference.
 */
export function adamReferenceStep(
  hp: AdamHyperparameters,
  t: number,
  param: NumericBuffer,
  grad: NumericBuffer,
  expAvg: NumericBuffer,
  expAvgSq: NumericBuffer,
  maxExpAvgSq?: NumericBuffer,
): void {
  const { lr, beta1, beta2, eps, weightDecay } = hp;
  // Bias corrections: E[m_t] = (1 − β1^t)·E[g] when m_0 = 0, and likewise for v.
  const biasCorrection1 = 1 - beta1 ** t;
  const biasCorrection2 = 1 - beta2 ** t;
  for (let i = 0; i < param.length; i++) {
    // $g_t = \nabla_\theta \mathcal{L}(\theta_{t-1})$, negated when maximizing
    let g = hp.maximize ? -grad[i]! : grad[i]!;
    let theta = param[i]!;
    if (hp.weightDecayMode === 'decoupled') {
      // $\theta \leftarrow \theta (1 - \eta\lambda)$ — AdamW decays the weights, not the gradient
      theta *= 1 - lr * weightDecay;
    } else {
      // $g \leftarrow g + \lambda\theta$ — Adam's L2 term enters m and v
      g += weightDecay * theta;
    }
    // $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$
    const m = expAvg[i]! + (1 - beta1) * (g - expAvg[i]!);
    // $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$
    const v = beta2 * expAvgSq[i]! + (1 - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    let vForDenominator = v;
    if (hp.amsgrad && maxExpAvgSq) {
      // $v^{max}_t = \max(v^{max}_{t-1}, v_t)$ (NaN propagates, like torch.maximum)
      const vMax = Number.isNaN(v) ? NaN : Math.max(maxExpAvgSq[i]!, v);
      maxExpAvgSq[i] = vMax;
      vForDenominator = vMax;
    }
    // $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$,
    // $\theta_t = \theta_{t-1}(1-\eta\lambda) - \eta\,\hat m_t/(\sqrt{\hat v_t} + \epsilon)$ (Adam: no decay factor) — ε outside the root
    const denominator = Math.sqrt(vForDenominator) / Math.sqrt(biasCorrection2) + eps;
    param[i] = theta - (lr / biasCorrection1) * (m / denominator);
  }
}

/**
 * The per-tensor scalars a fused kernel needs, computed once per step in float64 so every backend
 * rounds them the same way. Kernels compute, per element:
 *
 * ```
 * θ ← θ·decay;  g ← gradSign·g + l2·θ
 * m ← m + oneMinusBeta1·(g − m);  v ← beta2·v + oneMinusBeta2·g·g
 * θ ← θ + negStepSize·m / (√v · invSqrtBiasCorrection2 + eps)
 * ```
 */
export interface AdamStepScalars {
  /** −1 with maximize, else 1. */
  gradSign: number;
  /** 1 − ηλ for AdamW; 1 for Adam. */
  decay: number;
  /** λ for Adam's coupled L2; 0 for AdamW. */
  l2: number;
  /** 1 − β1. */
  oneMinusBeta1: number;
  /** β2. */
  beta2: number;
  /** 1 − β2. */
  oneMinusBeta2: number;
  /** 1/√(1 − β2^t): kernels multiply by it rather than divide by √(1 − β2^t), to save a division. */
  invSqrtBiasCorrection2: number;
  /** ε. */
  eps: number;
  /** −η/(1 − β1^t). */
  negStepSize: number;
}

/** The scalars of {@link AdamStepScalars} for hyperparameters `hp` at step `t`. */
export function adamStepScalars(hp: AdamHyperparameters, t: number): AdamStepScalars {
  const decoupled = hp.weightDecayMode === 'decoupled';
  return {
    gradSign: hp.maximize ? -1 : 1,
    decay: decoupled ? 1 - hp.lr * hp.weightDecay : 1,
    l2: decoupled ? 0 : hp.weightDecay,
    oneMinusBeta1: 1 - hp.beta1,
    beta2: hp.beta2,
    oneMinusBeta2: 1 - hp.beta2,
    invSqrtBiasCorrection2: 1 / Math.sqrt(1 - hp.beta2 ** t),
    eps: hp.eps,
    negStepSize: -hp.lr / (1 - hp.beta1 ** t),
  };
}
