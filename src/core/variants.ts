/**
 * Variants are options, not classes: state storage (fp32 or 8-bit blockwise), paging, the parameter
 * update (plain or Kahan-compensated for bf16), and update clipping (StableAdamW). This module turns
 * the options and one param into that param's *plan*: which update rule runs and which named state
 * buffers it keeps. Everything downstream (state dicts, stateBytes, checkpoints, paging, backends)
 * reads the plan's buffer layout instead of branching on presets.
 * @module
 */
import { BLOCK_SIZE, MIN_8BIT_SIZE } from '../rules/blockwise8bit.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import { fail, refuseUnknownKeys } from '../util/errors.js';
import { DTYPES, type Dtype, type FloatDtype } from './dtypes.js';
import { declaredDtype, describeVariant, KERNEL_DECLARATIONS, type KernelVariant, type UpdateFamily } from './kernel-declarations.js';

export type { UpdateFamily } from './kernel-declarations.js';
export type { Dtype } from './dtypes.js';

/** The typed array that holds each dtype. */
export type BufferOf<D extends Dtype> = D extends 'fp32' ? Float32Array : D extends 'bf16' ? Uint16Array : Uint8Array;
export type StateBuffer = Float32Array | Uint16Array | Uint8Array;

/** One named state buffer: PyTorch's / bitsandbytes' / optimi's name, dtype and element count. */
export interface BufferSpec {
  name: string;
  dtype: Dtype;
  length: number;
}

/**
 * A param's plan: the kernel variant it needs (its update family and the flags the rule needs; the
 * moments' dtype matters for the `debiased` family, amsgrad's running maximum for fp32 `adam` only)
 * and its state layout.
 */
export interface TensorPlan extends KernelVariant {
  buffers: BufferSpec[];
}

/** Paging: state lives in a spill file, with at most `budgetBytes` of it resident at once. */
export interface PagingOptions {
  /** Bytes of optimizer state that may be resident at once (default 64 MiB). */
  budgetBytes?: number;
  /** Bytes per page (default: a quarter of the budget, rounded to whole 256-element blocks). */
  pageBytes?: number;
  /** Directory of the spill file (default: the OS temporary directory). */
  directory?: string;
}

/** The variant options every optimizer and preset accepts. */
export interface VariantOptions {
  /** `'fp32'` (default) or `'8bit'`: bitsandbytes' blockwise 8-bit moments for tensors of 4096+ elements. */
  stateDtype?: 'fp32' | '8bit';
  /** Keep the state in pages under a resident-memory budget, spilled to a file (PagedAdamW). */
  paged?: boolean | PagingOptions;
  /** Kahan-compensated param updates (default: on for bf16 params, as optimi; needs bf16 params). */
  kahan?: boolean;
  /** StableAdamW's per-tensor update clipping: lr / max(1, RMS(g/√v̂)). */
  stable?: boolean;
}

/** Check that the option combination is supported; throws naming the combination otherwise. */
export function validateVariant(
  owner: string,
  v: VariantOptions,
  weightDecayMode: AdamHyperparameters['weightDecayMode'],
  anyAmsgrad: boolean,
): void {
  const where = 'options';
  if (v.stateDtype !== undefined && v.stateDtype !== 'fp32' && v.stateDtype !== '8bit') {
    fail(TypeError, owner, where, `stateDtype = ${JSON.stringify(v.stateDtype)} is not supported`, "stateDtype must be 'fp32' or '8bit'");
  }
  for (const key of ['kahan', 'stable'] as const) {
    if (v[key] !== undefined && typeof v[key] !== 'boolean') fail(TypeError, owner, where, `${key} = ${String(v[key])} is invalid`, `${key} must be true or false`);
  }
  const eightBit = v.stateDtype === '8bit';
  if (anyAmsgrad && eightBit) {
    fail(Error, owner, where, 'amsgrad with stateDtype 8bit is not supported', 'bitsandbytes refuses it too; use fp32 state for amsgrad');
  }
  if (anyAmsgrad && v.stable) fail(Error, owner, where, 'amsgrad with stable (StableAdamW) is not supported', 'choose one of them');
  if (anyAmsgrad && v.kahan) fail(Error, owner, where, 'amsgrad with kahan is not supported', 'Kahan summation is for bf16 params without amsgrad');
  if (weightDecayMode === 'l2' && (eightBit || v.stable || v.kahan)) {
    fail(Error, owner, where, 'Adam with coupled L2 decay supports only fp32 state without kahan or stable', 'use AdamW (decoupled decay) for the variants');
  }
  if (v.paged && v.stable) {
    fail(Error, owner, where, 'paged with stable (StableAdamW) is not supported', "StableAdamW's per-tensor RMS needs the whole tensor's state at once");
  }
  if (typeof v.paged === 'object' && v.paged !== null) {
    refuseUnknownKeys(owner, 'options.paged', v.paged, ['budgetBytes', 'pageBytes', 'directory']);
    const { budgetBytes, pageBytes } = v.paged;
    for (const [key, value] of [['paged.budgetBytes', budgetBytes], ['paged.pageBytes', pageBytes]] as const) {
      if (value !== undefined && !(Number.isInteger(value) && value > 0)) fail(RangeError, owner, where, `${key} = ${String(value)} is invalid`, `${key} must be a positive integer`);
    }
    if (budgetBytes !== undefined && pageBytes !== undefined && pageBytes > budgetBytes) {
      fail(RangeError, owner, where, `paged.pageBytes = ${pageBytes} exceeds paged.budgetBytes = ${budgetBytes}`, 'a page must fit in the budget');
    }
  }
}

/** The plan for a param of `length` elements and dtype `paramDtype` under variant options `v`. */
export function planTensor(
  owner: string,
  where: string,
  v: VariantOptions,
  paramDtype: FloatDtype,
  length: number,
  amsgrad: boolean,
): TensorPlan {
  if (v.kahan === true && paramDtype !== 'bf16') {
    fail(Error, owner, where, 'kahan is set but the param is fp32', 'Kahan summation compensates bf16 rounding; pass bf16 params (dtype: "bf16") or drop kahan');
  }
  if (amsgrad && paramDtype === 'bf16') {
    fail(Error, owner, where, 'amsgrad with a bf16 param is not supported', 'use fp32 params for amsgrad');
  }
  const kahan = v.kahan ?? paramDtype === 'bf16';
  const stable = v.stable ?? false;
  // bitsandbytes keeps 8-bit state for tensors of 4096+ elements; optimi for bf16 params or StableAdamW; torch otherwise.
  const family: UpdateFamily = v.stateDtype === '8bit' && length >= MIN_8BIT_SIZE ? 'blockwise8bit' : paramDtype === 'bf16' || stable ? 'debiased' : 'adam';
  // optimi keeps moments in the param's dtype; bitsandbytes keeps small tensors' moments in fp32.
  const momentDtype = paramDtype === 'bf16' && v.stateDtype !== '8bit' ? 'bf16' : 'fp32';
  const declaration = KERNEL_DECLARATIONS[family];
  // A flag counts only where the family declares a buffer for it (amsgrad: fp32 Adam's max_exp_avg_sq).
  const flags = { kahan, amsgrad: amsgrad && declaration.buffers.some((b) => b.when === 'amsgrad') };
  const blocks = Math.ceil(length / BLOCK_SIZE);
  const buffers: BufferSpec[] = declaration.buffers
    .filter((b) => b.when === undefined || flags[b.when])
    .map((b) => ({ name: b.name, dtype: declaredDtype(b.dtype, paramDtype, momentDtype), length: b.per === 'block' ? blocks : length }));
  return { family, paramDtype, momentDtype, kahan, stable, amsgrad: flags.amsgrad, buffers };
}

/** Exact bytes of a plan's state. */
export function planBytes(plan: TensorPlan): number {
  return plan.buffers.reduce((sum, b) => sum + b.length * DTYPES[b.dtype].bytes, 0);
}

/** Whether a buffer holds one value per 256-element block (8-bit absmax) rather than one per element. */
export function isPerBlock(plan: TensorPlan, spec: BufferSpec): boolean {
  return KERNEL_DECLARATIONS[plan.family].buffers.some((b) => b.name === spec.name && b.per === 'block');
}

/** Elements of the param a plan's state was made for (the length of its per-element buffers). */
export function planElements(plan: TensorPlan): number {
  return plan.buffers.find((b) => !isPerBlock(plan, b))!.length;
}

/** The kernel variant a plan runs (what a backend registers an implementation for). */
export function kernelVariantOf(plan: TensorPlan): KernelVariant {
  const { family, paramDtype, momentDtype, kahan, stable, amsgrad } = plan;
  return { family, paramDtype, momentDtype, kahan, stable, amsgrad };
}

/** A way to reach a kernel variant: variant options, a param's dtype and length, and amsgrad. */
export interface KernelVariantExample {
  variant: KernelVariant;
  options: VariantOptions;
  paramDtype: FloatDtype;
  length: number;
  amsgrad: boolean;
}

/**
 * Every kernel variant that some options and param reach, each with the first such example found:
 * what each backend registers, and what the parity tests run.
 */
export function reachableKernelVariants(): KernelVariantExample[] {
  const found = new Map<string, KernelVariantExample>();
  for (const stateDtype of ['fp32', '8bit'] as const) {
    for (const paramDtype of ['fp32', 'bf16'] as const) {
      for (const kahan of [false, true]) {
        for (const stable of [false, true]) {
          for (const amsgrad of [false, true]) {
            for (const length of [MIN_8BIT_SIZE + 301, 300]) {
              const options: VariantOptions = { stateDtype, kahan, stable };
              try {
                validateVariant('reachableKernelVariants', options, 'decoupled', amsgrad);
                const variant = kernelVariantOf(planTensor('reachableKernelVariants', 'param', options, paramDtype, length, amsgrad));
                const key = describeVariant(variant);
                if (!found.has(key)) found.set(key, { variant, options, paramDtype, length, amsgrad });
              } catch {
                // A refused combination reaches no kernel.
              }
            }
          }
        }
      }
    }
  }
  return [...found.values()];
}

/** The plan of the first `elements` of a tensor (a page of it): the same buffers, with those lengths. */
export function pagePlan(plan: TensorPlan, elements: number): TensorPlan {
  return { ...plan, buffers: plan.buffers.map((b) => ({ ...b, length: isPerBlock(plan, b) ? Math.ceil(elements / BLOCK_SIZE) : elements })) };
}
