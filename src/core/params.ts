/**
 * What a param is: its dtype, its length, whether it lives on a GPU; and the param-group keys a
 * checkpoint stores. Shared by the backends, the optimizers and the checkpoint codec, so it sits
 * below all three.
 * @module
 */
import type { AnyParam, GpuParam } from '../types.js';

/** The hyperparameters a param group may set (a state dict's groups hold these and `params`). */
export const GROUP_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize'] as const;

/** The dtype a param declares: `'bf16'` or `'fp32'`. */
export function paramDtype(param: AnyParam): 'fp32' | 'bf16' {
  return param.dtype === 'bf16' ? 'bf16' : 'fp32';
}

/** Whether a param's values live in a GPUBuffer ({@link GpuParam}) rather than a typed array. */
export function isGpuParam(param: AnyParam): param is GpuParam {
  return !ArrayBuffer.isView(param.data);
}

/** The dtype of a GpuParam's grad buffer: `gradDtype`, by default the param's own. */
export function gpuGradDtype(param: GpuParam): 'fp32' | 'bf16' {
  return param.gradDtype ?? param.dtype ?? 'fp32';
}

/** Elements of a param. */
export function paramLength(param: AnyParam): number {
  return isGpuParam(param) ? param.length : param.data.length;
}
