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

/** Storage type of a state buffer. bf16 buffers are Uint16Arrays of bit patterns. */
export type BufferDtype = 'f32' | 'bf16' | 'u8';

/** The typed array that holds each dtype. */
export type BufferOf<D extends BufferDtype> = D extends 'f32' ? Float32Array : D extends 'bf16' ? Uint16Array : Uint8Array;
export type StateBuffer = Float32Array | Uint16Array | Uint8Array;

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Record<BufferDtype, number> = { f32: 4, bf16: 2, u8: 1 };

/** The typed-array class that holds each dtype. */
export const ARRAY_TYPES = { f32: Float32Array, bf16: Uint16Array, u8: Uint8Array } as const;

/** One named state buffer: PyTorch's / bitsandbytes' / optimi's name, dtype and element count. */
export interface BufferSpec {
  name: string;
  dtype: BufferDtype;
  length: number;
}

/**
 * How one param is updated:
 * - `adam`: torch.optim.AdamW / Adam, fp32 moments (`exp_avg`, `exp_avg_sq`[, `max_exp_avg_sq`]).
 * - `optimi`: optimi's AdamW / StableAdamW, debiased moments in fp32 or bf16 (`exp_avg`, `exp_avg_sq`),
 *   and for Kahan summation the compensation `kahan_comp` in the param's dtype.
 * - `blockwise8bit`: bitsandbytes' 8-bit blockwise moments (`state1`, `state2`, `absmax1`, `absmax2`),
 *   and for Kahan summation diffusion-pipe's `shift` buffer in the param's dtype.
 */
export type UpdateFamily = 'adam' | 'optimi' | 'blockwise8bit';

/** A param's plan: its update family, the flags the rule needs, and its state layout. */
export interface TensorPlan {
  family: UpdateFamily;
  paramDtype: 'f32' | 'bf16';
  /** Dtype of exp_avg / exp_avg_sq for the `optimi` family. */
  momentDtype: 'f32' | 'bf16';
  kahan: boolean;
  stable: boolean;
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
  paramDtype: 'f32' | 'bf16',
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
  const blocks = Math.ceil(length / BLOCK_SIZE);
  const base = { paramDtype, kahan, stable };
  if (v.stateDtype === '8bit' && length >= MIN_8BIT_SIZE) {
    const buffers: BufferSpec[] = [
      { name: 'state1', dtype: 'u8', length },
      { name: 'state2', dtype: 'u8', length },
      { name: 'absmax1', dtype: 'f32', length: blocks },
      { name: 'absmax2', dtype: 'f32', length: blocks },
    ];
    if (kahan) buffers.push({ name: 'shift', dtype: paramDtype, length });
    return { ...base, family: 'blockwise8bit', momentDtype: 'f32', buffers };
  }
  if (paramDtype === 'bf16' || stable) {
    // optimi keeps moments in the param's dtype; bitsandbytes keeps small tensors' moments in fp32.
    const momentDtype = paramDtype === 'bf16' && v.stateDtype !== '8bit' ? 'bf16' : 'f32';
    const buffers: BufferSpec[] = [
      { name: 'exp_avg', dtype: momentDtype, length },
      { name: 'exp_avg_sq', dtype: momentDtype, length },
    ];
    if (kahan) buffers.push({ name: 'kahan_comp', dtype: 'bf16', length });
    return { ...base, family: 'optimi', momentDtype, buffers };
  }
  const buffers: BufferSpec[] = [
    { name: 'exp_avg', dtype: 'f32', length },
    { name: 'exp_avg_sq', dtype: 'f32', length },
  ];
  if (amsgrad) buffers.push({ name: 'max_exp_avg_sq', dtype: 'f32', length });
  return { ...base, family: 'adam', momentDtype: 'f32', buffers };
}

/** Exact bytes of a plan's state. */
export function planBytes(plan: TensorPlan): number {
  return plan.buffers.reduce((sum, b) => sum + b.length * DTYPE_BYTES[b.dtype], 0);
}

/** Whether a buffer holds one value per 256-element block (8-bit absmax) rather than one per element. */
export function isPerBlock(plan: TensorPlan, spec: BufferSpec): boolean {
  return plan.family === 'blockwise8bit' && spec.name.startsWith('absmax');
}

/** The plan of the first `elements` of a tensor (a page of it): the same buffers, with those lengths. */
export function pagePlan(plan: TensorPlan, elements: number): TensorPlan {
  return { ...plan, buffers: plan.buffers.map((b) => ({ ...b, length: isPerBlock(plan, b) ? Math.ceil(elements / BLOCK_SIZE) : elements })) };
}
