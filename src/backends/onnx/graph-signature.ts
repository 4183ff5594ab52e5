/**
 * What an ONNX step graph takes and returns, declared once: kernels/onnx/graphs.ts builds each graph
 * and records its signature from the graph itself; kernels/onnx/generate.ts embeds both in
 * graphs.generated.ts; the backend feeds and reads a graph by its signature alone.
 * @module
 */
import { KERNEL_DECLARATIONS } from '../../core/kernel-declarations.js';
import type { OnnxTensorDtype } from '../../core/dtypes.js';
import type { UpdateFamily } from '../../core/variants.js';

/** Which graph a tensor's update runs. */
export interface OnnxGraphConfig {
  family: UpdateFamily;
  paramBf16: boolean;
  /** optimi's moments are bf16 (rounded in the graph). */
  momentsBf16: boolean;
  kahan: boolean;
  amsgrad: boolean;
  /** StableAdamW's first pass: only Σ g²/max(v̂, ε²) over the tensor, nothing written. */
  rms: boolean;
}

/** The graph's name, and its file's: kernels/onnx/<name>.onnx. */
export function onnxGraphName(c: OnnxGraphConfig): string {
  const parts: string[] = [c.family];
  if (c.rms) parts.push('rms');
  if (c.amsgrad) parts.push('amsgrad');
  if (c.paramBf16 && !c.rms) parts.push('bf16');
  // Named only in families whose moments have a dtype of their own (optimi's), and only where it is not the param's.
  const ownMomentDtype = KERNEL_DECLARATIONS[c.family].buffers.some((b) => b.dtype === 'moments');
  if (ownMomentDtype && c.paramBf16 !== c.momentsBf16) parts.push(c.momentsBf16 ? 'bf16moments' : 'fp32moments');
  if (c.kahan && !c.rms) parts.push('kahan');
  return parts.join('-');
}

/**
 * How a tensor is shaped: `elements` is [n], or [blocks, 256] in an 8-bit graph (the last block
 * padded); `blocks` is [blocks, 1] (one absmax per block); `scalar` is [1].
 */
export type OnnxLayout = 'elements' | 'blocks' | 'scalar';

/** One graph input or output. bf16 storage travels as float32 holding bf16 values (ONNX has no bitcast). */
export interface OnnxTensorSpec {
  name: string;
  dtype: OnnxTensorDtype;
  layout: OnnxLayout;
}

/** A graph output; `updates` names the input it replaces (`param`, or a state buffer). */
export interface OnnxOutputSpec extends OnnxTensorSpec {
  updates?: string;
  /**
   * The output may be written over its input's memory: every node that reads the input runs before
   * the node that writes the output (checked on the graph by kernels/onnx/onnx-builder.ts).
   */
  inPlace: boolean;
}

export interface OnnxGraphSignature {
  /** Element inputs are [blocks, 256] instead of [n]. */
  blocked: boolean;
  /** `param`, `grad` and state buffers by their state-dict names. */
  tensors: OnnxTensorSpec[];
  /** [1] inputs, named as in the family's step scalars (adamStepScalars, debiasedStepScalars, adam8bitStepScalars). */
  scalars: string[];
  outputs: OnnxOutputSpec[];
}
