/**
 * Generates the ONNX graphs of the fused AdamW/Adam step (`npm run build:onnx`), with no Python: a
 * minimal protobuf encoder for the few ONNX messages a graph needs, and the step written as ONNX ops
 * in the same order as kernels/wasm/adam.ts and kernels/wgsl/adam.wgsl, so every backend rounds alike.
 *
 * Inputs: p, g, m, v [n] (and vmax [n] with amsgrad), and the per-step scalars of adamStepScalars
 * (src/rules/adam.ts) as [1] tensors. Outputs: p_out, m_out, v_out (and vmax_out).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// --- protobuf wire format: varints and length-delimited fields -----------------------------------
type Bytes = number[];
function varint(value: number): Bytes {
  const out: Bytes = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const fieldInt = (field: number, value: number): Bytes => [...varint(field << 3), ...varint(value)];
const fieldBytes = (field: number, bytes: Bytes): Bytes => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const fieldString = (field: number, text: string): Bytes => fieldBytes(field, [...new TextEncoder().encode(text)]);

// --- the ONNX messages used (onnx/onnx.proto field numbers) --------------------------------------
const FLOAT = 1; // TensorProto.DataType.FLOAT
/** ValueInfoProto of a float tensor whose shape is [n] (symbolic) or [1]. */
function floatInput(name: string, dim: 'n' | 1): Bytes {
  const dimension = dim === 'n' ? fieldString(2, 'n') : fieldInt(1, 1); // Dimension.dim_param / dim_value
  const shape = fieldBytes(1, dimension); // TensorShapeProto.dim
  const tensorType = [...fieldInt(1, FLOAT), ...fieldBytes(2, shape)]; // TypeProto.Tensor
  return [...fieldString(1, name), ...fieldBytes(2, fieldBytes(1, tensorType))]; // ValueInfoProto.name, .type
}
/** NodeProto. */
function node(op: string, inputs: string[], output: string): Bytes {
  return [...inputs.flatMap((i) => fieldString(1, i)), ...fieldString(2, output), ...fieldString(3, output), ...fieldString(4, op)];
}

/** The scalar inputs, in adamStepScalars' order. */
export const SCALAR_INPUTS = ['gradSign', 'decay', 'l2', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'invSqrtBiasCorrection2', 'eps', 'negStepSize'] as const;

/** The graph of one fused step; with amsgrad, v_max takes part. */
export function adamGraph(amsgrad: boolean): Uint8Array {
  const nodes: Bytes[] = [
    node('Mul', ['p', 'decay'], 'theta'), //                     θ ← θ·(1 − ηλ)
    node('Mul', ['g', 'gradSign'], 'g_signed'), //               g ← ±g
    node('Mul', ['l2', 'theta'], 'l2_term'),
    node('Add', ['g_signed', 'l2_term'], 'g_eff'), //            Adam: g ← g + λθ
    node('Sub', ['g_eff', 'm'], 'g_minus_m'),
    node('Mul', ['oneMinusBeta1', 'g_minus_m'], 'm_delta'),
    node('Add', ['m', 'm_delta'], 'm_out'), //                   m ← m + (1 − β1)(g − m)
    node('Mul', ['v', 'beta2'], 'v_decayed'),
    node('Mul', ['oneMinusBeta2', 'g_eff'], 'v_scaled'),
    node('Mul', ['v_scaled', 'g_eff'], 'v_delta'),
    node('Add', ['v_decayed', 'v_delta'], 'v_out'), //           v ← β2·v + (1 − β2)·g·g
    ...(amsgrad ? [node('Max', ['vmax', 'v_out'], 'vmax_out')] : []), // v_max ← max(v_max, v)
    node('Sqrt', [amsgrad ? 'vmax_out' : 'v_out'], 'sqrt_v'),
    node('Mul', ['sqrt_v', 'invSqrtBiasCorrection2'], 'sqrt_v_hat'),
    node('Add', ['sqrt_v_hat', 'eps'], 'denom'), //              √v/√(1 − β2^t) + ε
    node('Mul', ['negStepSize', 'm_out'], 'neg_step_m'),
    node('Div', ['neg_step_m', 'denom'], 'update'),
    node('Add', ['theta', 'update'], 'p_out'), //                θ ← θ − η/(1 − β1^t) · m/denom
  ];
  const tensors = amsgrad ? ['p', 'g', 'm', 'v', 'vmax'] : ['p', 'g', 'm', 'v'];
  const outputs = amsgrad ? ['p_out', 'm_out', 'v_out', 'vmax_out'] : ['p_out', 'm_out', 'v_out'];
  const graph: Bytes = [
    ...nodes.flatMap((n) => fieldBytes(1, n)),
    ...fieldString(2, amsgrad ? 'adam_step_amsgrad' : 'adam_step'),
    ...tensors.flatMap((t) => fieldBytes(11, floatInput(t, 'n'))),
    ...SCALAR_INPUTS.flatMap((s) => fieldBytes(11, floatInput(s, 1))),
    ...outputs.flatMap((o) => fieldBytes(12, floatInput(o, 'n'))),
  ];
  const model: Bytes = [
    ...fieldInt(1, 8), //                                        ir_version 8
    ...fieldString(2, 'adamw-lab'), //                           producer_name
    ...fieldBytes(7, graph),
    ...fieldBytes(8, fieldInt(2, 17)), //                        opset_import { version: 17 } (default domain)
  ];
  return Uint8Array.from(model);
}

if (require.main === module) {
  for (const amsgrad of [false, true]) {
    const file = join(__dirname, amsgrad ? 'adam-amsgrad.onnx' : 'adam.onnx');
    writeFileSync(file, adamGraph(amsgrad));
    console.log(`${file.slice(join(__dirname, '..', '..').length + 1)}: ${adamGraph(amsgrad).length} bytes`);
  }
}
