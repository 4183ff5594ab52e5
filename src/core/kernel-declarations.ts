/**
 * Each update family's kernel, declared once: the state buffers it reads and writes (with their
 * dtypes and whether they hold one value per element or per 256-element block), and its step
 * scalars. `planTensor` (./variants.ts) lays a param's state out from these declarations, every
 * backend registers its implementation of each declared kernel (./kernel-registry.ts), and the
 * parity tests are generated from what is registered.
 * @module
 */
import { adamStepScalars, type AdamHyperparameters } from '../rules/adam.js';
import { adam8bitStepScalars } from '../rules/blockwise8bit.js';
import { debiasedStepScalars } from '../rules/debiased.js';
import type { Dtype, FloatDtype } from './dtypes.js';


/**
 * How one param is updated:
 * - `adam`: torch.optim.AdamW / Adam, fp32 moments (`exp_avg`, `exp_avg_sq`[, `max_exp_avg_sq`]).
 * - `debiased`: optimi's AdamW / StableAdamW, debiased moments in fp32 or bf16 (`exp_avg`, `exp_avg_sq`),
 *   and for Kahan summation the compensation `kahan_comp` in the param's dtype.
 * - `blockwise8bit`: bitsandbytes' 8-bit blockwise moments (`state1`, `state2`, `absmax1`, `absmax2`),
 *   and for Kahan summation diffusion-pipe's `shift` buffer in the param's dtype.
 */
export type UpdateFamily = 'adam' | 'debiased' | 'blockwise8bit';

/**
 * A buffer's dtype as a declaration states it: a fixed dtype, or the dtype of the param (`'param'`)
 * or of the moments (`'moments'`) of the plan it belongs to.
 */
export type DeclaredDtype = Dtype | 'param' | 'moments';

/** One state buffer a kernel reads and writes (every state buffer is both read and written). */
export interface KernelBufferDeclaration {
  /** The name in the state dict (PyTorch's, bitsandbytes' or optimi's). */
  readonly name: string;
  readonly dtype: DeclaredDtype;
  /** `'element'`: one value per param element; `'block'`: one per 256-element block (8-bit absmax). */
  readonly per: 'element' | 'block';
  /** The plan flag the buffer exists under (always present when absent). */
  readonly when?: 'amsgrad' | 'kahan';
}

/** What a family's kernel reads, writes and takes. */
export interface KernelDeclaration {
  readonly family: UpdateFamily;
  /** The param, updated in place: its dtypes. */
  readonly paramDtypes: readonly (FloatDtype)[];
  /** The grad, read only: its dtypes (a bf16 grad, of a bf16 param only, is decoded as it is read). */
  readonly gradDtypes: readonly (FloatDtype)[];
  /** The state buffers, in state-dict order. */
  readonly buffers: readonly KernelBufferDeclaration[];
  /** The names of its step scalars, as {@link KernelDeclaration.stepScalars} returns them. */
  readonly scalars: readonly string[];
  /** The step scalars at step `t` (with StableAdamW's scaled η as `lr`), computed by the rules' own function. */
  stepScalars: (hp: AdamHyperparameters, t: number, lr: number) => Record<string, number>;
}

/** The three kernels. */
export const KERNEL_DECLARATIONS: { readonly [F in UpdateFamily]: KernelDeclaration & { family: F } } = {
  adam: {
    family: 'adam',
    paramDtypes: ['fp32'],
    gradDtypes: ['fp32'],
    buffers: [
      { name: 'exp_avg', dtype: 'fp32', per: 'element' },
      { name: 'exp_avg_sq', dtype: 'fp32', per: 'element' },
      { name: 'max_exp_avg_sq', dtype: 'fp32', per: 'element', when: 'amsgrad' },
    ],
    scalars: ['gradSign', 'decay', 'l2', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'invSqrtBiasCorrection2', 'eps', 'negStepSize'],
    stepScalars: (hp, t) => ({ ...adamStepScalars(hp, t) }),
  },
  debiased: {
    family: 'debiased',
    paramDtypes: ['fp32', 'bf16'],
    gradDtypes: ['fp32', 'bf16'],
    buffers: [
      { name: 'exp_avg', dtype: 'moments', per: 'element' },
      { name: 'exp_avg_sq', dtype: 'moments', per: 'element' },
      { name: 'kahan_comp', dtype: 'bf16', per: 'element', when: 'kahan' },
    ],
    scalars: ['gradSign', 'oneMinusBeta1Hat', 'beta2Hat', 'oneMinusBeta2Hat', 'decay', 'negStepSize', 'eps'],
    stepScalars: (hp, t, lr) => ({ ...debiasedStepScalars(hp, t, lr) }),
  },
  blockwise8bit: {
    family: 'blockwise8bit',
    paramDtypes: ['fp32', 'bf16'],
    gradDtypes: ['fp32', 'bf16'],
    buffers: [
      { name: 'state1', dtype: 'u8', per: 'element' },
      { name: 'state2', dtype: 'u8', per: 'element' },
      { name: 'absmax1', dtype: 'fp32', per: 'block' },
      { name: 'absmax2', dtype: 'fp32', per: 'block' },
      { name: 'shift', dtype: 'param', per: 'element', when: 'kahan' },
    ],
    scalars: ['gradSign', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'decay', 'negStepSize', 'invSqrtBiasCorrection2', 'eps', 'biasCorrection1', 'biasCorrection2'],
    stepScalars: (hp, t, lr) => ({ ...adam8bitStepScalars(hp, t, lr) }),
  },
};

/** The dtype a declared buffer has in a plan with these param and moment dtypes. */
export function declaredDtype(dtype: DeclaredDtype, paramDtype: FloatDtype, momentDtype: FloatDtype): Dtype {
  return ({ param: paramDtype, moments: momentDtype } as Record<string, Dtype>)[dtype] ?? (dtype as Dtype);
}

/**
 * What selects one implementation of a kernel: the family and the plan's options. Backends register
 * an implementation per variant; the optimizer looks one up per param.
 */
export interface KernelVariant {
  family: UpdateFamily;
  paramDtype: FloatDtype;
  momentDtype: FloatDtype;
  kahan: boolean;
  stable: boolean;
  amsgrad: boolean;
}

/** A variant as one line, e.g. `debiased (paramDtype bf16, momentDtype bf16, kahan, stable)`: a registry key and a message. */
export function describeVariant(v: KernelVariant): string {
  const flags = (['kahan', 'stable', 'amsgrad'] as const).filter((flag) => v[flag]);
  return `${v.family} (paramDtype ${v.paramDtype}, momentDtype ${v.momentDtype}${flags.map((f) => `, ${f}`).join('')})`;
}
