/**
 * Each family's WGSL kernel as backend 'webgpu' registers it: which pipeline runs it, which state
 * buffers it binds (in its bindings' order, after the param and the grad), what a slab of it holds
 * besides those buffers, and its per-tensor `Segment` values. The store (./webgpu-store.ts) runs any of
 * them the same way.
 * @module
 */
import { adamStepScalars, type AdamHyperparameters } from '../../rules/adam.js';
import { adam8bitStepScalars } from '../../rules/blockwise8bit.js';
import { debiasedStepScalars } from '../../rules/debiased.js';
import type { TensorPlan, UpdateFamily } from '../../core/variants.js';
import { packSegment, segmentBytes, type SegmentOf } from './kernels.js';

/**
 * One binding between the grad and the lookup: a state buffer, a state buffer that a plan may lack
 * (a placeholder is bound then), or the slab's reduction buffer (8-bit absmax and StableAdamW's
 * sums, or a placeholder where the slab has none).
 */
export type WgslBinding = { state: string } | { optionalState: string; placeholder: 'vmax' | 'kahan' } | { reduction: true };

/** What a segment's values are made of, besides the step scalars. */
export interface SegmentInputs {
  hp: AdamHyperparameters;
  step: number;
  plan: TensorPlan;
  /** firstUnit, count and stepping, which every kernel's Segment has. */
  common: { firstUnit: number; count: number; stepping: number };
  /** 0: fp32 grad; 1: a host bf16 grad at the start of its fp32 slot; 2: a caller's packed bf16 buffer. */
  gradBf16: number;
}

/** A family's WGSL kernel. */
export interface WgslKernel {
  /** The pipeline (kernels/wgsl/<pipeline>.wgsl) and the struct its segments use. */
  pipeline: UpdateFamily;
  /** The state bindings, in the shader's binding order after p and g. */
  bindings: readonly WgslBinding[];
  /** The 8-bit maps and quantization tables follow the lookup's per-unit part. */
  tables: boolean;
  /**
   * Words of the reduction buffer for a slab of `units` units and `segments` tensors, before
   * StableAdamW's per-unit sums; the 8-bit kernel keeps absmax1 and absmax2 there (one word per unit
   * each), so its state's absmax buffers are this buffer. Undefined: a reduction buffer only when stable.
   */
  absmaxWords?: (units: number) => number;
  /** Bytes of one Segment. */
  segmentBytes: number;
  /** Write one tensor's Segment at `byteOffset`. */
  writeSegment: (inputs: SegmentInputs, view: DataView, byteOffset: number) => void;
}

const flag = (on: boolean): number => (on ? 1 : 0);

export const WGSL_KERNELS: Record<UpdateFamily, WgslKernel> = {
  adam: {
    pipeline: 'adam',
    bindings: [{ state: 'exp_avg' }, { state: 'exp_avg_sq' }, { optionalState: 'max_exp_avg_sq', placeholder: 'vmax' }],
    tables: false,
    segmentBytes: segmentBytes('adam'),
    writeSegment: ({ hp, step, common }, view, at) => packSegment('adam', { ...adamStepScalars(hp, step), ...common, amsgrad: flag(hp.amsgrad) }, view, at),
  },
  debiased: {
    pipeline: 'debiased',
    bindings: [{ state: 'exp_avg' }, { state: 'exp_avg_sq' }, { optionalState: 'kahan_comp', placeholder: 'kahan' }, { reduction: true }],
    tables: false,
    segmentBytes: segmentBytes('debiased'),
    writeSegment: ({ hp, step, plan, common, gradBf16 }, view, at) => packSegment('debiased', {
      ...debiasedStepScalars(hp, step), ...common, paramBf16: flag(plan.paramDtype === 'bf16'), gradBf16, momentsBf16: flag(plan.momentDtype === 'bf16'),
      kahan: flag(plan.kahan), weightDecay: hp.weightDecay,
    } satisfies SegmentOf<'debiased'>, view, at),
  },
  blockwise8bit: {
    pipeline: 'blockwise8bit',
    bindings: [{ state: 'state1' }, { state: 'state2' }, { reduction: true }, { optionalState: 'shift', placeholder: 'kahan' }],
    tables: true,
    absmaxWords: (units) => 2 * units,
    segmentBytes: segmentBytes('blockwise8bit'),
    writeSegment: ({ hp, step, plan, common, gradBf16 }, view, at) => packSegment('blockwise8bit', {
      ...adam8bitStepScalars(hp, step), ...common, paramBf16: flag(plan.paramDtype === 'bf16'), gradBf16, kahan: flag(plan.kahan), weightDecay: hp.weightDecay,
    }, view, at),
  },
};
