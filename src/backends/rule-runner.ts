/**
 * Runs an update task with the readable rules of src/rules/. This is the whole of `backend: 'js'`,
 * and the reference the WebAssembly kernels are tested against.
 * @module
 */
import { adamReferenceStep } from '../rules/adam.js';
import { bf16ToFloat, floatToBf16, roundToBf16 } from '../rules/bf16.js';
import { adam8bitReferenceStep } from '../rules/blockwise8bit.js';
import { quantizationMaps } from '../core/quantization-maps.js';
import { debiasedReferenceStep } from '../rules/debiased.js';
import type { Dtype, StateBuffer, UpdateFamily } from '../core/variants.js';
import type { UpdateTask } from './backend.js';

/** The value a stored element stands for. */
function decode(buffer: StateBuffer, dtype: Dtype): Float64Array {
  if (dtype === 'bf16') return Float64Array.from(buffer, bf16ToFloat);
  return Float64Array.from(buffer);
}

/** Write values back into their storage. */
function encode(values: Float64Array, buffer: StateBuffer, dtype: Dtype): void {
  if (dtype === 'bf16') for (let i = 0; i < values.length; i++) buffer[i] = floatToBf16(values[i]!);
  else buffer.set(values);
}

/** Rounding to a storage dtype, applied by the rules whenever they store. */
const rounding = (dtype: 'fp32' | 'bf16'): ((x: number) => number) => (dtype === 'bf16' ? roundToBf16 : Math.fround);

/** Grad values as numbers: bf16 grads are decoded. */
function gradValues(task: UpdateTask): ArrayLike<number> {
  return task.grad instanceof Uint16Array ? decode(task.grad, 'bf16') : task.grad;
}

/** fp32 Adam / AdamW: torch's rule, in place on fp32 buffers. */
function adamRule(task: UpdateTask): void {
  const { hp, step, buffers } = task;
  adamReferenceStep(hp, step, task.param as Float32Array, gradValues(task) as Float32Array, buffers.exp_avg as Float32Array,
    buffers.exp_avg_sq as Float32Array, buffers.max_exp_avg_sq as Float32Array | undefined);
}

/** optimi's rule over the decoded param, moments and compensation, stored back in their dtypes. */
function debiasedRule(task: UpdateTask): void {
  const { plan, hp, step, buffers } = task;
  const param = decode(task.param, plan.paramDtype);
  const m = decode(buffers.exp_avg!, plan.momentDtype);
  const v = decode(buffers.exp_avg_sq!, plan.momentDtype);
  const c = plan.kahan ? decode(buffers.kahan_comp!, 'bf16') : undefined;
  debiasedReferenceStep(
    { lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, decoupleLr: false, maxLr: hp.lr, kahan: plan.kahan, stable: plan.stable, maximize: hp.maximize },
    step, param, gradValues(task), m, v, c, rounding(plan.paramDtype), rounding(plan.momentDtype));
  encode(m, buffers.exp_avg!, plan.momentDtype);
  encode(v, buffers.exp_avg_sq!, plan.momentDtype);
  if (c) encode(c, buffers.kahan_comp!, 'bf16');
  encode(param, task.param, plan.paramDtype);
}

/** bitsandbytes' 8-bit blockwise rule over the codes and absmax in place, with diffusion-pipe's shift. */
function blockwise8bitRule(task: UpdateTask): void {
  const { plan, hp, step, buffers } = task;
  const param = decode(task.param, plan.paramDtype);
  const { signed, unsigned } = quantizationMaps();
  const shift = plan.kahan ? decode(buffers.shift!, plan.paramDtype) : undefined;
  const state = {
    codes1: buffers.state1 as Uint8Array, codes2: buffers.state2 as Uint8Array,
    absmax1: buffers.absmax1 as Float32Array, absmax2: buffers.absmax2 as Float32Array,
  };
  adam8bitReferenceStep(
    { lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, maximize: hp.maximize, stable: plan.stable },
    step, param, gradValues(task), state, signed, unsigned, shift, rounding(plan.paramDtype));
  if (shift) encode(shift, buffers.shift!, plan.paramDtype);
  encode(param, task.param, plan.paramDtype);
}

/** A reference rule: updates one task in place. */
export type RuleKernel = (task: UpdateTask) => void;

/** Each family's reference rule: the kernels backend 'js' registers. */
export const RULE_KERNELS: Record<UpdateFamily, RuleKernel> = { adam: adamRule, debiased: debiasedRule, blockwise8bit: blockwise8bitRule };

/** Update one task in place with the reference rule of its family. */
export function runWithRules(task: UpdateTask): void {
  RULE_KERNELS[task.plan.family](task);
}
