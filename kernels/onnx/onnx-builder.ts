/**
 * Just enough of ONNX to write the optimizer graphs from TypeScript, with no Python: a protobuf
 * encoder for the few messages a graph needs (onnx/onnx.proto field numbers in the comments), and a
 * builder whose methods read like the math they encode.
 */

// --- protobuf wire format: varints and length-delimited fields -----------------------------------
type Bytes = number[];
function varint(value: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`onnx-builder: varint ${value} is not a non-negative integer`);
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
const fieldBytes = (field: number, bytes: ArrayLike<number>): Bytes => [...varint((field << 3) | 2), ...varint(bytes.length), ...Array.from(bytes)];
const fieldString = (field: number, text: string): Bytes => fieldBytes(field, [...new TextEncoder().encode(text)]);
const fieldFloat = (field: number, value: number): Bytes => [...varint((field << 3) | 5), ...new Uint8Array(Float32Array.of(value).buffer)];

/** Element types used by the graphs, with their TensorProto.DataType numbers. */
export const DATA_TYPES = { float: 1, uint8: 2, int32: 6, int64: 7, bool: 9, bfloat16: 16 } as const;
export type ElementType = keyof typeof DATA_TYPES;

/** A dimension: a number, or a symbolic name such as 'n'. */
export type Dim = number | string;

/** Node attributes: ints, floats, or lists of ints. */
export type Attributes = Record<string, number | { float: number } | number[]>;

/** AttributeProto: name (1), f (2), i (3), ints (8), type (20: FLOAT 1, INT 2, INTS 7). */
function attribute(name: string, value: Attributes[string]): Bytes {
  if (Array.isArray(value)) return [...fieldString(1, name), ...value.flatMap((v) => fieldInt(8, v)), ...fieldInt(20, 7)];
  if (typeof value === 'object') return [...fieldString(1, name), ...fieldFloat(2, value.float), ...fieldInt(20, 1)];
  return [...fieldString(1, name), ...fieldInt(3, value), ...fieldInt(20, 2)];
}

/** ValueInfoProto: name (1), type (2) = TypeProto { tensor_type (1) = { elem_type (1), shape (2) } }. */
function valueInfo(name: string, type: ElementType, dims: readonly Dim[]): Bytes {
  const shape = dims.flatMap((d) => fieldBytes(1, typeof d === 'number' ? fieldInt(1, d) : fieldString(2, d))); // TensorShapeProto.dim
  const tensorType = [...fieldInt(1, DATA_TYPES[type]), ...fieldBytes(2, shape)];
  return [...fieldString(1, name), ...fieldBytes(2, fieldBytes(1, tensorType))];
}

/** The typed array that holds a constant of each type (little-endian raw_data). */
const CONSTANT_ARRAYS = { float: Float32Array, int32: Int32Array, int64: BigInt64Array } as const;

/**
 * A graph under construction. Every op method returns the name of its output, so a graph reads as a
 * sequence of expressions; pass `output` to give the result a graph output's name.
 */
export class GraphBuilder {
  private readonly nodes: Array<{ opType: string; inputs: readonly string[]; attributes: Attributes; output: string }> = [];
  private readonly inputs: Bytes[] = [];
  private readonly outputs: Bytes[] = [];
  private readonly initializers: Bytes[] = [];
  private readonly names = new Set<string>();
  private readonly declared: Array<{ name: string; type: ElementType; dims: readonly Dim[]; output: boolean }> = [];
  private counter = 0;

  /** A graph input. */
  input(name: string, type: ElementType, dims: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    this.declared.push({ name, type, dims, output: false });
    return name;
  }

  /** Declare `name` (already produced by an op) a graph output. */
  output(name: string, type: ElementType, dims: readonly Dim[]): void {
    if (!this.names.has(name)) throw new Error(`onnx-builder: output ${name} is produced by no node`);
    this.outputs.push(valueInfo(name, type, dims));
    this.declared.push({ name, type, dims, output: true });
  }

  /** The graph's inputs and outputs, in declaration order. */
  get interface(): ReadonlyArray<{ name: string; type: ElementType; dims: readonly Dim[]; output: boolean }> {
    return this.declared;
  }

  /**
   * Whether `output` may share memory with `input`: every node that reads `input` is `output`'s own
   * node (elementwise, so it reads each element before writing it) or one it depends on, so no read
   * of `input` can come after the write, whatever order the runtime picks.
   */
  writesAfterReads(input: string, output: string): boolean {
    const readsOf = new Map(this.nodes.map((n) => [n.output, n.inputs]));
    const ancestors = new Set<string>();
    const stack = [output];
    while (stack.length > 0) {
      const value = stack.pop()!;
      if (ancestors.has(value)) continue;
      ancestors.add(value);
      stack.push(...(readsOf.get(value) ?? []));
    }
    return this.nodes.every((n) => !n.inputs.includes(input) || ancestors.has(n.output));
  }

  /** A constant tensor (an initializer): TensorProto dims (1), data_type (2), name (8), raw_data (9). */
  constant(type: keyof typeof CONSTANT_ARRAYS, values: ArrayLike<number>, dims: readonly number[] = [values.length], name = this.fresh('const')): string {
    this.claim(name);
    const array = type === 'int64' ? BigInt64Array.from(Array.from(values, (v) => BigInt(v))) : CONSTANT_ARRAYS[type].from(values);
    this.initializers.push([
      ...dims.flatMap((d) => fieldInt(1, d)),
      ...fieldInt(2, DATA_TYPES[type]),
      ...fieldString(8, name),
      ...fieldBytes(9, new Uint8Array(array.buffer, array.byteOffset, array.byteLength)),
    ]);
    return name;
  }

  /** A float scalar constant of shape [1]. */
  scalar(value: number): string {
    return this.constant('float', [value], [1]);
  }

  /** A node; its output is named `output`, or a fresh name. */
  op(opType: string, inputs: readonly string[], attributes: Attributes = {}, output = this.fresh(opType.toLowerCase())): string {
    for (const i of inputs) if (!this.names.has(i)) throw new Error(`onnx-builder: ${opType} reads ${i}, which nothing produced yet`);
    this.claim(output);
    this.nodes.push({ opType, inputs, attributes, output });
    return output;
  }

  /**
   * Give `value`, the output of a node nothing reads yet, the name `output` (a graph output's), so a
   * result needs no Identity node; an input or a value already read gets an Identity.
   */
  rename(value: string, output: string): string {
    const node = this.nodes.find((n) => n.output === value);
    if (!node || this.nodes.some((n) => n.inputs.includes(value))) return this.op('Identity', [value], {}, output);
    this.claim(output);
    this.names.delete(value);
    node.output = output;
    return output;
  }

  add = (a: string, b: string, output?: string): string => this.op('Add', [a, b], {}, output);
  sub = (a: string, b: string, output?: string): string => this.op('Sub', [a, b], {}, output);
  mul = (a: string, b: string, output?: string): string => this.op('Mul', [a, b], {}, output);
  div = (a: string, b: string, output?: string): string => this.op('Div', [a, b], {}, output);
  max = (a: string, b: string, output?: string): string => this.op('Max', [a, b], {}, output);
  sqrt = (a: string, output?: string): string => this.op('Sqrt', [a], {}, output);
  where = (condition: string, a: string, b: string, output?: string): string => this.op('Where', [condition, a, b], {}, output);
  cast = (a: string, to: ElementType, output?: string): string => this.op('Cast', [a], { to: DATA_TYPES[to] }, output);

  /**
   * The ModelProto: ir_version (1), producer_name (2), graph (7) = GraphProto { node (1), name (2),
   * initializer (5), input (11), output (12) }, opset_import (8) = { version (2) } of the default domain.
   */
  encode(graphName: string, opset = 17): Uint8Array {
    // NodeProto: input (1), output (2), name (3), op_type (4), attribute (5).
    const nodes = this.nodes.map((n) => [
      ...n.inputs.flatMap((i) => fieldString(1, i)),
      ...fieldString(2, n.output),
      ...fieldString(3, n.output),
      ...fieldString(4, n.opType),
      ...Object.entries(n.attributes).flatMap(([k, v]) => fieldBytes(5, attribute(k, v))),
    ]);
    const graph: Bytes = [
      ...nodes.flatMap((n) => fieldBytes(1, n)),
      ...fieldString(2, graphName),
      ...this.initializers.flatMap((t) => fieldBytes(5, t)),
      ...this.inputs.flatMap((i) => fieldBytes(11, i)),
      ...this.outputs.flatMap((o) => fieldBytes(12, o)),
    ];
    return Uint8Array.from([...fieldInt(1, 8), ...fieldString(2, 'adamw-lab'), ...fieldBytes(7, graph), ...fieldBytes(8, fieldInt(2, opset))]);
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`onnx-builder: ${name} is defined twice`);
    this.names.add(name);
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }
}
