/**
 * The fused optimizer steps as ONNX graphs, one per update family and storage (see
 * src/backends/onnx/graph-signature.ts for the names). Each graph computes what the family's readable
 * rule in src/rules/ does, in the order of its WGSL and WebAssembly kernels, so every backend rounds
 * alike. Per-step scalars come in as [1] tensors named after the fields of adamStepScalars,
 * debiasedStepScalars and adam8bitStepScalars. Tensors are named after the state dict: `param`, `grad`,
 * `exp_avg`, …; each updated one comes back as `<name>_out`.
 *
 * bf16 storage travels as float32 holding bf16 values (ONNX has no bitcast); the graph rounds to bf16
 * with a Cast to BFLOAT16 and back, which ONNX Runtime does to nearest, ties to even.
 */
import type { AdamStepScalars } from '../../src/rules/adam.js';
import type { Adam8bitStepScalars } from '../../src/rules/blockwise8bit.js';
import type { DebiasedStepScalars } from '../../src/rules/debiased.js';
import { BLOCK_SIZE } from '../../src/rules/blockwise8bit.js';
import { quantizationMaps } from '../../src/core/quantization-maps.js';
import { DTYPES, dtypeNamed, type OnnxTensorDtype } from '../../src/core/dtypes.js';
import { quantizationThresholds } from '../../src/backends/quantization-tables.js';
import type { OnnxGraphConfig, OnnxGraphSignature, OnnxLayout } from '../../src/backends/onnx/graph-signature.js';
import { GraphBuilder, type Dim } from './onnx-builder.js';
import { adamTable } from '../expressions/adam.js';
import { debiasedTable } from '../expressions/debiased.js';
import { stableTable } from '../expressions/stable.js';
import { blockwise8bitTable } from '../expressions/blockwise8bit.js';
import { OnnxRows } from '../expressions/expression.js';

/** A graph being written, with the helpers every family uses. */
class StepGraph extends GraphBuilder {
  constructor(readonly blocked: boolean) {
    super();
  }

  /** An element tensor: [n], or [blocks, 256] in an 8-bit graph. */
  elements(name: string, dtype: OnnxTensorDtype = 'fp32'): string {
    return this.input(name, DTYPES[dtype].onnx, this.elementDims);
  }

  /** A per-step scalar, named after its field in the family's step scalars. */
  scalarInput<S>(name: keyof S & string): string {
    return this.input(name, DTYPES.fp32.onnx, [1]);
  }

  /** Several per-step scalars at once, by name (lists checked against a step-scalars type with `satisfies`). */
  scalarInputs<K extends string>(names: readonly K[]): Record<K, string> {
    return Object.fromEntries(names.map((name) => [name, this.input(name, DTYPES.fp32.onnx, [1])])) as Record<K, string>;
  }

  /** `x` rounded to the storage of a bf16 tensor (nearest, ties to even), or as is. */
  rounded(x: string, bf16: boolean, output?: string): string {
    if (!bf16) return output ? this.rename(x, output) : x;
    return this.cast(this.cast(x, DTYPES.bf16.onnx), DTYPES.fp32.onnx, output);
  }

  /** Declare `<name>_out`, the new value of input `name`. */
  result(name: string, dtype: OnnxTensorDtype = 'fp32', layout: OnnxLayout = 'elements'): void {
    this.output(`${name}_out`, DTYPES[dtype].onnx, layout === 'blocks' ? ['blocks', 1] : this.elementDims);
  }

  get elementDims(): Dim[] {
    return this.blocked ? ['blocks', BLOCK_SIZE] : ['n'];
  }

  /** The signature the backend feeds the graph by. */
  signature(): OnnxGraphSignature {
    const layoutOf = (dims: readonly Dim[]): OnnxLayout => (dims[0] === 1 ? 'scalar' : dims[1] === 1 ? 'blocks' : 'elements');
    const inputs = this.interface.filter((d) => !d.output);
    const tensor = (d: (typeof inputs)[number]) => ({ name: d.name, dtype: dtypeNamed('onnx', d.type) as OnnxTensorDtype, layout: layoutOf(d.dims) });
    return {
      blocked: this.blocked,
      tensors: inputs.filter((d) => layoutOf(d.dims) !== 'scalar').map(tensor),
      scalars: inputs.filter((d) => layoutOf(d.dims) === 'scalar').map((d) => d.name),
      outputs: this.interface.filter((d) => d.output).map((d) => {
        const updates = d.name.endsWith('_out') ? d.name.slice(0, -'_out'.length) : undefined;
        return { ...tensor(d), ...(updates ? { updates } : {}), inPlace: updates !== undefined && this.writesAfterReads(updates, d.name) };
      }),
    };
  }
}

/** torch.optim.AdamW / Adam with fp32 state (kernels/wgsl/adam.wgsl, kernels/wasm/adam.ts). */
function adamGraph(amsgrad: boolean): StepGraph {
  const b = new StepGraph(false);
  const [param, grad, expAvg, expAvgSq] = ['param', 'grad', 'exp_avg', 'exp_avg_sq'].map((n) => b.elements(n)) as [string, string, string, string];
  const maxExpAvgSq = amsgrad ? b.elements('max_exp_avg_sq') : '';
  const s = b.scalarInputs([
    'gradSign', 'decay', 'l2', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'invSqrtBiasCorrection2', 'eps', 'negStepSize',
  ] as const satisfies ReadonlyArray<keyof AdamStepScalars>);
  // The formulas: the adam family's expression table (kernels/expressions/adam.ts).
  const rows = new OnnxRows(b, adamTable, { param, grad, m: expAvg, v: expAvgSq, vMax: maxExpAvgSq, ...s });
  rows.emit('decayedParam');
  rows.emit('gradient');
  rows.emit('firstMoment', 'exp_avg_out');
  rows.bindings.vUsed = rows.emit('secondMoment', 'exp_avg_sq_out');
  if (amsgrad) rows.bindings.vUsed = rows.emit('maxSecondMoment', 'max_exp_avg_sq_out');
  rows.emit('denominator');
  rows.emit('newParam', 'param_out');
  for (const name of ['param', 'exp_avg', 'exp_avg_sq', ...(amsgrad ? ['max_exp_avg_sq'] : [])]) b.result(name);
  return b;
}

/** optimi's second moment row (stored in the moments' dtype), shared by the step and its RMS pass. */
function debiasedSecondMoment(b: StepGraph, rows: OnnxRows, output?: string): string {
  rows.bindings.beta2Hat = b.scalarInput<DebiasedStepScalars>('beta2Hat');
  rows.bindings.oneMinusBeta2Hat = b.scalarInput<DebiasedStepScalars>('oneMinusBeta2Hat');
  return rows.emit('secondMoment', output);
}

/**
 * StableAdamW's sum Σ g²/max(v̂, ε²) over the tensor (or one chunk of it), as `rms_sum`; `live` masks out padding
 * and non-finite g. Each term is (g/√max(v̂, ε²))², which cannot overflow; v̂ = +∞ gives 0 (src/rules/debiased.ts).
 */
function rmsSum(b: StepGraph, g: string, vHat: string, live?: string): void {
  const eps = b.scalarInput<DebiasedStepScalars & Adam8bitStepScalars>('eps');
  // The term: the stable table's rows (kernels/expressions/stable.ts).
  const rows = new OnnxRows(b, stableTable, { g, vHat, epsSquared: b.mul(eps, eps) });
  rows.emit('ratio');
  const terms = rows.emit('term');
  b.op('ReduceSum', [live ? b.where(live, terms, b.scalar(0)) : terms], { keepdims: 1 }, 'rms_sum');
  b.output('rms_sum', DTYPES.fp32.onnx, [1]);
}

/**
 * optimi's AdamW with debiased moments (kernels/wgsl/debiased.wgsl): StableAdamW runs
 * {@link debiasedRmsGraph} first and this graph with η_t; `rms` selects that first pass.
 */
function debiasedGraph(c: OnnxGraphConfig): StepGraph {
  const b = new StepGraph(false);
  // The formulas: the debiased family's expression table (kernels/expressions/debiased.ts).
  const rows = new OnnxRows(b, debiasedTable, { grad: b.elements('grad') }, { paramBf16: c.paramBf16, momentsBf16: c.momentsBf16 });
  rows.bindings.gradSign = b.scalarInput<DebiasedStepScalars>('gradSign');
  const g = rows.emit('gradient');
  if (c.rms) {
    rows.bindings.v = b.elements('exp_avg_sq');
    rmsSum(b, g, debiasedSecondMoment(b, rows));
    return b;
  }
  rows.bindings.param = b.elements('param');
  rows.bindings.m = b.elements('exp_avg');
  rows.bindings.v = b.elements('exp_avg_sq');
  if (c.kahan) rows.bindings.c = b.elements('kahan_comp');
  Object.assign(rows.bindings, b.scalarInputs(['oneMinusBeta1Hat', 'decay', 'negStepSize', 'eps'] as const satisfies ReadonlyArray<keyof DebiasedStepScalars>));
  rows.emit('firstMoment', 'exp_avg_out');
  debiasedSecondMoment(b, rows, 'exp_avg_sq_out');
  // The graph always decays: decay is exactly 1 without weight decay, which leaves θ as it is
  rows.emit('decayedParam');
  rows.emit('paramUpdate');
  if (c.kahan) {
    rows.emit('compensatedUpdate');
    rows.emit('kahanParam', 'param_out');
    rows.emit('compensation', 'kahan_comp_out');
  } else {
    rows.emit('newParam', 'param_out');
  }
  for (const name of ['param', 'exp_avg', 'exp_avg_sq', ...(c.kahan ? ['kahan_comp'] : [])]) b.result(name);
  return b;
}

/** A [256] constant: `values`, padded with +∞ (a threshold nothing exceeds). */
function table256(b: StepGraph, values: Float32Array): string {
  const padded = new Float32Array(256).fill(Infinity);
  padded.set(values);
  return b.constant('float', padded);
}

/**
 * The code of each x in the signed or unsigned map: a branchless binary search over the map's 255
 * thresholds (quantizationThresholds), 8 Gathers, equal to bitsandbytes' dQuantize with its sign rule.
 */
function quantized(b: StepGraph, x: string, signed: boolean): string {
  const { signed: signedMap, unsigned: unsignedMap } = quantizationMaps();
  const table = quantizationThresholds(signed ? signedMap : unsignedMap, signed);
  const thresholds = table256(b, table.thresholds);
  // position ← position + step  where threshold[position + step − 1] < x
  let position = b.constant('int32', [0], [1]);
  for (let step = 128; step >= 1; step >>= 1) {
    const probe = b.op('Gather', [thresholds, b.add(position, b.constant('int32', [step - 1], [1]))]);
    position = b.where(b.op('Less', [probe, x]), b.add(position, b.constant('int32', [step], [1])), position);
  }
  if (table.negativeZeroBoundary) {
    // +0 sits above the −0 threshold, which a comparison cannot see: 1/(+0) = +∞, 1/(−0) = −∞
    const positiveZero = b.op('And', [b.op('Equal', [x, b.scalar(0)]), b.op('Greater', [b.op('Reciprocal', [x]), b.scalar(0)])]);
    position = b.add(position, b.cast(positiveZero, 'int32'));
  }
  return position;
}

/**
 * m and v of an 8-bit block from its codes: β·(map[code]·absmax) + (1 − β)·g (and g² for v); 0 where g
 * is not finite (bitsandbytes resets them), which also covers the NaN padding of the last block.
 */
function dequantizedMoment(b: StepGraph, rows: OnnxRows, which: 1 | 2, live: string): string {
  const { signed, unsigned } = quantizationMaps();
  const map = b.constant('float', which === 1 ? signed : unsigned);
  const codes = b.elements(`state${which}`, 'u8');
  const absmax = b.input(`absmax${which}`, DTYPES.fp32.onnx, ['blocks', 1]);
  Object.assign(rows.bindings, {
    [which === 1 ? 'mappedFirst' : 'mappedSecond']: b.op('Gather', [map, b.cast(codes, 'int32')]),
    [`absmax${which}`]: absmax,
    [`beta${which}`]: b.scalarInput<Adam8bitStepScalars>(which === 1 ? 'beta1' : 'beta2'),
    [`oneMinusBeta${which}`]: b.scalarInput<Adam8bitStepScalars>(which === 1 ? 'oneMinusBeta1' : 'oneMinusBeta2'),
  });
  return b.where(live, rows.emit(which === 1 ? 'firstMoment' : 'secondMoment'), b.scalar(0));
}

/** The signed grad and where it is finite (IsNaN/IsInf: the graph may not assume finite floats). */
function liveGrad(b: StepGraph, rows: OnnxRows): { g: string; live: string } {
  rows.bindings.grad = b.elements('grad');
  rows.bindings.gradSign = b.scalarInput<Adam8bitStepScalars>('gradSign');
  const g = rows.emit('gradient');
  return { g, live: b.op('Not', [b.op('Or', [b.op('IsNaN', [g]), b.op('IsInf', [g])])]) };
}

/**
 * AdamW with bitsandbytes' 8-bit blockwise state (kernels/wgsl/blockwise8bit.wgsl) over [blocks, 256]:
 * dequantize, update m and v, step θ, take each block's new absmax, requantize. With `kahan`,
 * diffusion-pipe's `shift` buffer (AdamW8bitKahan). StableAdamW runs the `rms` graph first.
 */
function blockwise8bitGraph(c: OnnxGraphConfig): StepGraph {
  const b = new StepGraph(true);
  // The formulas: the blockwise8bit family's expression table (kernels/expressions/blockwise8bit.ts).
  const rows = new OnnxRows(b, blockwise8bitTable, {}, { paramBf16: c.paramBf16 });
  const { g, live } = liveGrad(b, rows);
  if (c.rms) {
    rows.bindings.v = dequantizedMoment(b, rows, 2, live);
    rows.bindings.biasCorrection2 = b.scalarInput<Adam8bitStepScalars>('biasCorrection2');
    rmsSum(b, g, rows.emit('debiasedSecondMoment'), live);
    return b;
  }
  // Where v overflowed float32 (a huge finite g), m and v reset to 0 and θ only decays (the step is
  // 0/(0 + ε)), so the block's absmax stays finite (src/rules/blockwise8bit.ts).
  const mNew = dequantizedMoment(b, rows, 1, live);
  const vNew = dequantizedMoment(b, rows, 2, live);
  const fits = b.op('Not', [b.op('IsInf', [vNew])]);
  const m = b.where(fits, mNew, b.scalar(0));
  const v = b.where(fits, vNew, b.scalar(0));
  const param = b.elements('param');
  const shift = c.kahan ? b.elements('shift') : '';
  Object.assign(rows.bindings, { param, shift, m, v },
    b.scalarInputs(['decay', 'negStepSize', 'invSqrtBiasCorrection2', 'eps'] as const satisfies ReadonlyArray<keyof Adam8bitStepScalars>));
  // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε); elements without a finite gradient keep θ (and shift)
  rows.emit('decayedParam');
  rows.emit('step');
  if (c.kahan) {
    // shift ← shift + Δθ;  θ' = θ + shift (in θ's dtype);  shift ← shift + (θ − θ')
    rows.emit('shiftedUpdate');
    rows.bindings.kahanParam = b.where(live, rows.emit('kahanParam'), param, 'param_out');
    b.where(live, rows.emit('newShift'), shift, 'shift_out');
  } else {
    b.where(live, rows.emit('newParam'), param, 'param_out');
  }
  // The blocks' new absmax, and the codes of m/absmax and v/absmax: x·(1/absmax), as the other kernels
  // and bitsandbytes' __fdividef; a block of zeros keeps x = m (every code then dequantizes to 0).
  const requantize = (moment: string, which: 1 | 2): void => {
    const absmax = b.op('ReduceMax', [b.op('Abs', [moment])], { axes: [1], keepdims: 1 }, `absmax${which}_out`);
    rows.bindings.moment = moment;
    rows.bindings.inverseAbsmax = b.where(b.op('Greater', [absmax, b.scalar(0)]), b.op('Reciprocal', [absmax]), b.scalar(1));
    b.cast(quantized(b, rows.emit('normalized'), which === 1), DTYPES.u8.onnx, `state${which}_out`);
  };
  requantize(m, 1);
  requantize(v, 2);
  b.result('param');
  b.result('state1', 'u8');
  b.result('state2', 'u8');
  b.result('absmax1', 'fp32', 'blocks');
  b.result('absmax2', 'fp32', 'blocks');
  if (c.kahan) b.result('shift');
  return b;
}

/** Build the graph of `c`. */
export function buildGraph(c: OnnxGraphConfig): StepGraph {
  if (c.family === 'adam') return adamGraph(c.amsgrad);
  return c.family === 'debiased' ? debiasedGraph(c) : blockwise8bitGraph(c);
}

const config = (family: OnnxGraphConfig['family'], flags: Partial<OnnxGraphConfig> = {}): OnnxGraphConfig =>
  ({ family, paramBf16: false, momentsBf16: false, kahan: false, amsgrad: false, rms: false, ...flags });

/** Every graph a plan can need (src/core/variants.ts planTensor), for the generator to write. */
export const GRAPH_CONFIGS: readonly OnnxGraphConfig[] = [
  config('adam'),
  config('adam', { amsgrad: true }),
  // fp32 params reach the debiased family only with StableAdamW; bf16 params keep bf16 moments, or fp32
  // ones when 8-bit state was asked for a tensor under bitsandbytes' 4096 minimum.
  config('debiased'),
  ...[true, false].flatMap((momentsBf16) => [false, true].map((kahan) => config('debiased', { paramBf16: true, momentsBf16, kahan }))),
  config('debiased', { rms: true }),
  config('debiased', { rms: true, momentsBf16: true }),
  config('blockwise8bit'),
  config('blockwise8bit', { paramBf16: true }),
  config('blockwise8bit', { paramBf16: true, kahan: true }),
  config('blockwise8bit', { rms: true }),
];
