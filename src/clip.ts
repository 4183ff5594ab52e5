/**
 * Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_` (sd-scripts clips at 1.0 by
 * default through accelerate).
 * @module
 */
import type { Param } from './types.js';
import { describeParam, fail, refuseUnknownKeys, showValue } from './util/errors.js';

/** Options of {@link clipGradNorm}. */
export interface ClipGradNormOptions {
  /** The p of the p-norm: a number >= 1, or Infinity for the max norm (default 2). */
  normType?: number;
  /** Throw, changing nothing, when the total norm is NaN or infinite (default false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Scale all grads together so that their global norm is at most `maxNorm`:
 * $\lVert g\rVert = \bigl(\sum_i \lVert g_i\rVert_p^p\bigr)^{1/p}$, and every grad is multiplied by
 * $\min(1, \text{maxNorm}/(\lVert g\rVert + 10^{-6}))$. Params without a grad are ignored.
 * The norm is accumulated in float64. Returns the total norm before clipping.
 *
 * As in PyTorch, a non-finite norm makes the coefficient NaN or 0 unless `errorIfNonfinite` is set.
 */
export function clipGradNorm(params: Param[], maxNorm: number, options: ClipGradNormOptions = {}): number {
  const owner = 'clipGradNorm';
  if (!Array.isArray(params)) {
    fail(TypeError, owner, 'params', `${showValue(params)} is not an array`, 'pass an array of params { data, grad }');
  }
  if (typeof options !== 'object' || options === null) {
    fail(TypeError, owner, 'options', `${showValue(options)} is not an options object`, 'pass { normType?, errorIfNonfinite? } or nothing');
  }
  refuseUnknownKeys(owner, 'options', options, ['normType', 'errorIfNonfinite'], { error_if_nonfinite: "PyTorch's error_if_nonfinite is 'errorIfNonfinite' here", norm_type: "PyTorch's norm_type is 'normType' here" });
  if (options.errorIfNonfinite !== undefined && typeof options.errorIfNonfinite !== 'boolean') {
    fail(TypeError, owner, 'errorIfNonfinite', `${showValue(options.errorIfNonfinite)} is invalid`, 'errorIfNonfinite must be true or false');
  }
  const normType = options.normType ?? 2;
  if (!(typeof maxNorm === 'number' && maxNorm >= 0)) {
    fail(RangeError, owner, 'maxNorm', `${showValue(maxNorm)} is invalid`, 'maxNorm must be a number >= 0');
  }
  if (!(normType === Infinity || (typeof normType === 'number' && normType >= 1))) {
    fail(RangeError, owner, 'normType', `${showValue(normType)} is invalid`, 'normType must be >= 1 or Infinity');
  }
  const grads: Float32Array[] = [];
  params.forEach((p, i) => {
    if (typeof p !== 'object' || p === null) fail(TypeError, owner, `param ${i}`, `${showValue(p)} is not a param`, 'a param is an object { data, grad }');
    const grad: unknown = p.grad; // read once: the grad checked is the grad scaled
    if (grad === null || grad === undefined) return;
    if (!(grad instanceof Float32Array)) {
      fail(TypeError, owner, describeParam(i, p.name), `grad is ${showValue(grad)}`, 'grad must be a Float32Array or null');
    }
    grads.push(grad);
  });
  let total = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const a = Math.abs(g[i]!);
      if (normType === Infinity) total = a > total || Number.isNaN(a) ? a : total;
      else total += normType === 2 ? a * a : a ** normType;
    }
  }
  if (normType !== Infinity) total = normType === 2 ? Math.sqrt(total) : total ** (1 / normType);
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    fail(RangeError, owner, 'grads', `the total ${normType}-norm is ${total}`, 'grads must be finite (errorIfNonfinite is set)');
  }
  const coefficient = Math.fround(Math.min(1, maxNorm / (total + 1e-6)));
  if (!(coefficient === 1)) {
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i]! *= coefficient;
  }
  return total;
}
