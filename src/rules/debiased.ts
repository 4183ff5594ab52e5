/**
 * optimi's AdamW and StableAdamW, written to be read: the float64 (or simulated-bf16) reference for
 * the Kahan-summation and update-clipping variants. Source: optimi `optimi/adam.py`,
 * `optimi/stableadamw.py` (both written out in `docs/algorithms.mdx`).
 *
 * optimi stores *debiased* moments. With the debiased beta $\hat\beta(\beta, t) = (\beta^t - \beta)/(\beta^t - 1)$
 * (0 at t = 1), $m \leftarrow \hat\beta_1 m + (1-\hat\beta_1) g$ holds $\hat m_t$ directly, and the
 * parameter trajectory equals PyTorch's.
 * The update family is named `debiased` after this: what it does, not the library it comes from.
 * @module
 */
import type { CoreHyperparameters, TensorStepReport } from './adam.js';

/**
 * One element's term of StableAdamW's RMS, $g^2/\max(\hat v, \epsilon^2)$, computed as
 * $\bigl(g/\sqrt{\max(\hat v, \epsilon^2)}\bigr)^2$ so that no intermediate overflows float32: g² does
 * once |g| > 1.8e19, while the ratio is bounded, since v̂ holds (1 − β̂2)·g². Where v̂ itself overflowed
 * to +∞ (as a float32 v does for such a g), the term is g/∞ = 0; a NaN or ±∞ g gives NaN.
 * Every backend computes the term with this formula.
 */
export function stabilizationTerm(g: number, vHat: number, eps: number): number {
  const ratio = g / Math.sqrt(Math.max(vHat, eps * eps));
  return ratio * ratio;
}

/**
 * StableAdamW's per-tensor learning rate from the sum of its terms over the tensor's n elements:
 * $\text{rms} = \sqrt{\tfrac{1}{n}\sum g^2/\max(\hat v, \epsilon^2)}$, $\eta_t = \eta/\max(1, \text{rms})$.
 * Every backend sums the terms its own way (one loop, per-chunk or per-window passes, per-block partials) and ends here.
 * A NaN rms (a non-finite gradient in the tensor) leaves η unscaled, as optimi's Python `max(1, rms)` does.
 */
export function stabilizedLr(lr: number, sumOfTerms: number, n: number): TensorStepReport {
  const rms = Math.sqrt(sumOfTerms / n);
  return { rms, lr: rms > 1 ? lr / rms : lr };
}

/** Hyperparameters of optimi's AdamW / StableAdamW. */
export interface DebiasedHyperparameters extends CoreHyperparameters {
  /** "Fully decoupled" decay: the factor is 1 − (lr/maxLr)·λ instead of 1 − lr·λ. */
  decoupleLr: boolean;
  /** The largest scheduled lr, for `decoupleLr`. */
  maxLr: number;
  /** Kahan-compensated parameter update, for bf16 params. */
  kahan: boolean;
  /** StableAdamW: scale lr by 1/max(1, RMS(g/√v̂)) per tensor (Wortsman et al. 2023). */
  stable: boolean;
  /** Ascend instead of descend (default false). */
  maximize?: boolean;
}

/** $\hat\beta(\beta, t) = (\beta^t - \beta)/(\beta^t - 1)$: the EMA weight that keeps the average debiased. */
export function debiasedBeta(beta: number, t: number): number {
  return (beta ** t - beta) / (beta ** t - 1);
}

/** No rounding: float64 storage. */
const exact = (x: number): number => x;

/**
 * One optimi step at step t (1 first), in place. Buffers hold values; `store` rounds a value to the
 * storage type of the param and the compensation, `storeMoments` to that of the moments (identity for
 * float64, Math.fround for fp32, {@link roundToBf16} for bf16). Arithmetic between stores is float64,
 * standing in for optimi's fp32 intermediates.
 * Returns the per-tensor RMS that StableAdamW used (1 when `stable` is off).
 */
export function debiasedReferenceStep(
  hp: DebiasedHyperparameters,
  t: number,
  param: Float64Array,
  grad: ArrayLike<number>,
  expAvg: Float64Array,
  expAvgSq: Float64Array,
  kahanComp?: Float64Array,
  store: (x: number) => number = exact,
  storeMoments: (x: number) => number = store,
): TensorStepReport {
  const sign = hp.maximize ? -1 : 1;
  const beta1Hat = debiasedBeta(hp.beta1, t);
  const beta2Hat = debiasedBeta(hp.beta2, t);
  // $m \leftarrow \hat\beta_1 m + (1-\hat\beta_1)g$, $v \leftarrow \hat\beta_2 v + (1-\hat\beta_2)g^2$ — already debiased
  for (let i = 0; i < param.length; i++) {
    const g = sign * grad[i]!;
    expAvg[i] = storeMoments(expAvg[i]! + (1 - beta1Hat) * (g - expAvg[i]!));
    expAvgSq[i] = storeMoments(beta2Hat * expAvgSq[i]! + (1 - beta2Hat) * g * g);
  }
  // StableAdamW: $\text{rms} = \sqrt{\operatorname{mean}\bigl(g^2/\max(\hat v, \epsilon^2)\bigr)}$, $\eta_t = \eta/\max(1, \text{rms})$
  let rms = 1;
  let lr = hp.lr;
  if (hp.stable) {
    let sum = 0;
    for (let i = 0; i < param.length; i++) sum += stabilizationTerm(grad[i]!, expAvgSq[i]!, hp.eps);
    ({ rms, lr } = stabilizedLr(hp.lr, sum, param.length));
  }
  // Decoupled decay with the (possibly stabilized) lr: $\theta \leftarrow \theta(1 - \eta_t\lambda)$
  const decay = hp.decoupleLr ? 1 - (lr / hp.maxLr) * hp.weightDecay : 1 - lr * hp.weightDecay;
  for (let i = 0; i < param.length; i++) {
    const theta = hp.weightDecay !== 0 ? store(param[i]! * decay) : param[i]!;
    // $u = -\eta_t\, \hat m/(\sqrt{\hat v} + \epsilon)$
    const update = (-lr * expAvg[i]!) / (Math.sqrt(expAvgSq[i]!) + hp.eps);
    if (hp.kahan && kahanComp) {
      // Kahan: add the update to the carried rounding error c, move θ by what bf16 can hold,
      // and keep what it could not: $c \leftarrow c + u$; $\theta' = \theta + c$; $c \leftarrow c + (\theta - \theta')$
      const c = store(kahanComp[i]! + update);
      const next = store(theta + c);
      kahanComp[i] = store(c + (theta - next));
      param[i] = next;
    } else {
      param[i] = store(theta + update);
    }
  }
  return { rms, lr };
}

/**
 * The scalars a fused kernel of the debiased family needs at step t, in float64 so every backend rounds them alike.
 * `lr` is η, or StableAdamW's η_t once the RMS is known. Kernels compute, per element:
 *
 * ```
 * m ← m + oneMinusBeta1Hat·(gradSign·g − m);  v ← beta2Hat·v + oneMinusBeta2Hat·g²
 * θ ← θ·decay (skipped when decay is 1);  θ ← θ + negStepSize·m/(√v + eps)   (or through Kahan's c)
 * ```
 */
export interface DebiasedStepScalars {
  /** −1 with maximize, else 1. */
  gradSign: number;
  /** 1 − β̂1. */
  oneMinusBeta1Hat: number;
  /** β̂2. */
  beta2Hat: number;
  /** 1 − β̂2. */
  oneMinusBeta2Hat: number;
  /** 1 − η·λ, or exactly 1 without weight decay (optimi skips the multiply then). */
  decay: number;
  /** −η_t (the moments are already debiased): the signed step size, added to θ. */
  negStepSize: number;
  /** ε. */
  eps: number;
}

/** {@link DebiasedStepScalars} for hyperparameters `hp` at step `t` with learning rate `lr`. */
export function debiasedStepScalars(hp: CoreHyperparameters & { maximize?: boolean }, t: number, lr = hp.lr): DebiasedStepScalars {
  const beta1Hat = debiasedBeta(hp.beta1, t);
  const beta2Hat = debiasedBeta(hp.beta2, t);
  return {
    gradSign: hp.maximize ? -1 : 1,
    oneMinusBeta1Hat: 1 - beta1Hat,
    beta2Hat,
    oneMinusBeta2Hat: 1 - beta2Hat,
    decay: hp.weightDecay !== 0 ? 1 - lr * hp.weightDecay : 1,
    negStepSize: -lr,
    eps: hp.eps,
  };
}
