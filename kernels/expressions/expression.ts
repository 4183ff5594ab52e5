/**
 * The per-element formulas of each update family, declared once as data (a tiny expression tree)
 * and written out by this file into each kernel language: AssemblyScript (one lane and four lanes of
 * SIMD), WGSL, and ONNX nodes. A table row is one formula (the first moment, the decayed θ, Kahan's
 * compensation, …) over named leaves: the element's values, the step's scalars, the dtype flags and
 * earlier rows. Loops, loads and stores, lane handling, reductions and table lookups stay hand-written
 * in the kernels, which call the generated row functions; so every backend evaluates the same tree,
 * operand for operand, and rounds in the same order by construction.
 *
 * The generator (`generate.ts`) writes the AssemblyScript and WGSL functions at build time; the ONNX
 * graph builders (`kernels/onnx/graphs.ts`) emit the same rows as nodes with {@link OnnxRows}.
 */

/** A node of a formula. */
export type Expr =
  | { readonly kind: 'leaf'; readonly name: string; readonly leaf: LeafKind }
  | { readonly kind: 'add' | 'sub' | 'mul' | 'div' | 'maxNan' | 'max'; readonly a: Expr; readonly b: Expr }
  | { readonly kind: 'sqrt'; readonly a: Expr }
  | { readonly kind: 'round'; readonly a: Expr; readonly to: Flag }
  // On the bits of a float32 (u32 lanes): wrapping add, and, or, a logical shift right by a constant.
  | { readonly kind: 'bitsAdd' | 'and' | 'or'; readonly a: Expr; readonly b: Expr }
  | { readonly kind: 'shiftRight'; readonly a: Expr; readonly by: number }
  | { readonly kind: 'bitsConstant'; readonly value: number };

/**
 * What a leaf is: `value`, one element of a tensor (or a row computed before); `scalar`, the same for
 * every element of a tensor (a step scalar, a block's absmax); `flag`, a dtype choice (bf16 or fp32).
 */
export type LeafKind = 'value' | 'scalar' | 'flag';

/** A dtype flag by name (true: bf16), or `true` for a buffer that is always bf16. */
export type Flag = string | true;

export const add = (a: Expr, b: Expr): Expr => ({ kind: 'add', a, b });
export const sub = (a: Expr, b: Expr): Expr => ({ kind: 'sub', a, b });
export const mul = (a: Expr, b: Expr): Expr => ({ kind: 'mul', a, b });
export const div = (a: Expr, b: Expr): Expr => ({ kind: 'div', a, b });
export const sqrt = (a: Expr): Expr => ({ kind: 'sqrt', a });
/** max(a, b), NaN when either is (torch.maximum). */
export const maxNan = (a: Expr, b: Expr): Expr => ({ kind: 'maxNan', a, b });
/** Each language's own max (f32.max in wasm, WGSL's max, ONNX's Max): they agree unless an operand is NaN. */
export const max = (a: Expr, b: Expr): Expr => ({ kind: 'max', a, b });
/** `a` rounded to bf16 (ties to even) when `to` is set; fp32 keeps it. */
export const round = (a: Expr, to: Flag): Expr => ({ kind: 'round', a, to });
/** a + b on u32 bits, modulo 2³². */
export const bitsAdd = (a: Expr, b: Expr): Expr => ({ kind: 'bitsAdd', a, b });
export const and = (a: Expr, b: Expr): Expr => ({ kind: 'and', a, b });
export const or = (a: Expr, b: Expr): Expr => ({ kind: 'or', a, b });
/** a >>> by (logical), `by` a constant. */
export const shiftRight = (a: Expr, by: number): Expr => ({ kind: 'shiftRight', a, by });
/** A u32 constant. */
export const bits = (value: number): Expr => ({ kind: 'bitsConstant', value });

/** One formula of a table. */
export interface Row {
  /** The function name in AssemblyScript and WGSL: the family, then the row (`adamFirstMoment`). */
  readonly fn: string;
  /** The row's own name, by which later rows and the ONNX bindings refer to it. */
  readonly name: string;
  /** The formula, in the notation of the family's rule in `src/rules/`. */
  readonly math: string;
  readonly expr: Expr;
  /**
   * Set when the row is a value written to a buffer of this dtype: the store rounds it
   * (`storeValue`/`storeVec`/`storeQuad` in the kernels, a Cast pair in ONNX), not the row function.
   */
  readonly stored?: Flag;
  /** Leaves the row reads, in order of first appearance: the generated function's parameters. */
  readonly params: readonly { readonly name: string; readonly leaf: LeafKind }[];
}

/** The rows of one family, and the types its WGSL functions use. */
export class ExpressionTable {
  readonly rows: Row[] = [];
  private readonly leaves = new Map<string, LeafKind>();

  /**
   * @param family prefix of the generated function names (`adam`, `debiased`, `blockwise8bit`)
   * @param wgslValueType what one invocation holds in WGSL: an element (`f32`), a quad
   *   (`vec4<f32>`), or the bits of an element (`u32`, whose AssemblyScript scalar type is u32 too)
   */
  constructor(readonly family: string, readonly wgslValueType: 'f32' | 'vec4<f32>' | 'u32') {}

  /** The AssemblyScript type of one lane's value. */
  get assemblyScalarType(): 'f32' | 'u32' {
    return this.wgslValueType === 'u32' ? 'u32' : 'f32';
  }

  /** An element value read from a tensor (or given by the kernel). */
  value(name: string): Expr {
    return this.leaf(name, 'value');
  }

  /** A value that is the same for every element the row function is called on. */
  scalar(name: string): Expr {
    return this.leaf(name, 'scalar');
  }

  /** A dtype flag: true for bf16. */
  flag(name: string): string {
    this.leaf(name, 'flag');
    return name;
  }

  /** Declare a row; returns it as an operand of later rows. */
  row(name: string, math: string, expr: Expr, options: { stored?: Flag } = {}): Expr {
    if (this.leaves.has(name)) throw new Error(`expression table ${this.family}: ${name} is declared twice`);
    const params: { name: string; leaf: LeafKind }[] = [];
    const visit = (e: Expr): void => {
      if (e.kind === 'leaf') {
        if (!params.some((p) => p.name === e.name)) params.push({ name: e.name, leaf: e.leaf });
      } else if (e.kind === 'round') {
        visit(e.a);
        if (e.to !== true && !params.some((p) => p.name === e.to)) params.push({ name: e.to, leaf: 'flag' });
      } else if (e.kind === 'sqrt' || e.kind === 'shiftRight') {
        visit(e.a);
      } else if (e.kind !== 'bitsConstant') {
        visit(e.a);
        visit(e.b);
      }
    };
    visit(expr);
    const fn = this.family + name[0]!.toUpperCase() + name.slice(1);
    this.rows.push({ fn, name, math, expr, params, ...(options.stored !== undefined ? { stored: options.stored } : {}) });
    return this.leaf(name, 'value');
  }

  /** The row called `name`. */
  get(name: string): Row {
    const row = this.rows.find((r) => r.name === name);
    if (!row) throw new Error(`expression table ${this.family}: no row ${name}`);
    return row;
  }

  private leaf(name: string, leaf: LeafKind): Expr {
    const known = this.leaves.get(name);
    if (known !== undefined && known !== leaf) throw new Error(`expression table ${this.family}: ${name} is both a ${known} and a ${leaf}`);
    this.leaves.set(name, leaf);
    return { kind: 'leaf', name, leaf };
  }
}

const INFIX = { add: '+', sub: '-', mul: '*', div: '/', bitsAdd: '+', and: '&', or: '|' } as const;
const hex = (value: number): string => `0x${value.toString(16)}`;

/** `e` as an AssemblyScript expression over f32 (one lane). */
function assemblyScalar(e: Expr): string {
  switch (e.kind) {
    case 'leaf': return e.name;
    case 'sqrt': return `sqrt<f32>(${assemblyScalar(e.a)})`;
    case 'maxNan': return `maxPropagatingNan(${assemblyScalar(e.a)}, ${assemblyScalar(e.b)})`;
    case 'max': return `max<f32>(${assemblyScalar(e.a)}, ${assemblyScalar(e.b)})`;
    case 'round': return `rounded(${assemblyScalar(e.a)}, ${String(e.to)})`;
    case 'shiftRight': return `(${assemblyScalar(e.a)} >>> ${e.by})`;
    case 'bitsConstant': return hex(e.value);
    default: return `(${assemblyScalar(e.a)} ${INFIX[e.kind]} ${assemblyScalar(e.b)})`;
  }
}

/** `e` as an AssemblyScript expression over v128 (four f32 lanes; scalars arrive splatted). */
function assemblyVector(e: Expr): string {
  switch (e.kind) {
    case 'leaf': return e.name;
    case 'sqrt': return `f32x4.sqrt(${assemblyVector(e.a)})`;
    // wasm's f32x4.max returns NaN when either lane is NaN, as torch.maximum does
    case 'maxNan': return `f32x4.max(${assemblyVector(e.a)}, ${assemblyVector(e.b)})`;
    case 'max': return `f32x4.max(${assemblyVector(e.a)}, ${assemblyVector(e.b)})`;
    case 'round': return `roundedVec(${assemblyVector(e.a)}, ${String(e.to)})`;
    case 'shiftRight': return `i32x4.shr_u(${assemblyVector(e.a)}, ${e.by})`;
    case 'bitsConstant': return `i32x4.splat(${hex(e.value)})`;
    case 'bitsAdd': return `i32x4.add(${assemblyVector(e.a)}, ${assemblyVector(e.b)})`;
    case 'and': case 'or': return `v128.${e.kind}(${assemblyVector(e.a)}, ${assemblyVector(e.b)})`;
    default: return `f32x4.${e.kind}(${assemblyVector(e.a)}, ${assemblyVector(e.b)})`;
  }
}

/** `e` as a WGSL expression (values of the table's WGSL type `type`, scalars f32). */
function wgsl(e: Expr, type: string): string {
  // WGSL's operators mix vectors and scalars; its builtins want both operands of one type.
  const operand = (x: Expr): string => (type === 'vec4<f32>' && x.kind === 'leaf' && x.leaf === 'scalar' ? `vec4<f32>(${x.name})` : wgsl(x, type));
  switch (e.kind) {
    case 'leaf': return e.name;
    case 'sqrt': return `sqrt(${wgsl(e.a, type)})`;
    case 'maxNan': return `maxPropagatingNan(${wgsl(e.a, type)}, ${wgsl(e.b, type)})`;
    case 'max': return `max(${operand(e.a)}, ${operand(e.b)})`;
    case 'round': return `roundedTo(${wgsl(e.a, type)}, ${String(e.to)})`;
    case 'shiftRight': return `(${wgsl(e.a, type)} >> ${e.by}u)`;
    case 'bitsConstant': return `${hex(e.value)}u`;
    default: return `(${wgsl(e.a, type)} ${INFIX[e.kind]} ${wgsl(e.b, type)})`;
  }
}

/** Drop the outer parentheses of a whole expression. */
const bare = (code: string): string => (code.startsWith('(') && code.endsWith(')') && balanced(code.slice(1, -1)) ? code.slice(1, -1) : code);
function balanced(code: string): boolean {
  let depth = 0;
  for (const ch of code) {
    depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth === 0;
}

const storedNote = (row: Row): string =>
  row.stored === undefined ? '' : ` Stored in ${row.stored === true ? 'bf16' : `bf16 when ${row.stored}, else fp32`}: the caller's store rounds it.`;

/** Every row of `tables` as AssemblyScript @inline functions: `fn` (f32) and `fnVec` (v128). */
export function assemblyScriptSource(tables: readonly ExpressionTable[]): string {
  let out = '';
  for (const table of tables) {
    out += `\n// ${table.family}\n`;
    for (const row of table.rows) {
      const params = (type: string): string => row.params.map((p) => `${p.name}: ${p.leaf === 'flag' ? 'bool' : type}`).join(', ');
      const scalarType = table.assemblyScalarType;
      out += `\n/** ${row.math}${storedNote(row)} */\n`;
      out += `@inline export function ${row.fn}(${params(scalarType)}): ${scalarType} {\n  return ${bare(assemblyScalar(row.expr))};\n}\n`;
      out += `@inline export function ${row.fn}Vec(${params('v128')}): v128 {\n  return ${assemblyVector(row.expr)};\n}\n`;
    }
  }
  return out;
}

/** Every row of `tables` as WGSL functions. */
export function wgslSource(tables: readonly ExpressionTable[]): string {
  let out = '';
  for (const table of tables) {
    out += `\n// ${table.family}\n`;
    for (const row of table.rows) {
      const params = row.params.map((p) => `${p.name}: ${p.leaf === 'flag' ? 'bool' : p.leaf === 'scalar' ? 'f32' : table.wgslValueType}`).join(', ');
      out += `\n// ${row.math}${storedNote(row)}\n`;
      out += `fn ${row.fn}(${params}) -> ${table.wgslValueType} {\n  return ${bare(wgsl(row.expr, table.wgslValueType))};\n}\n`;
    }
  }
  return out;
}

/** The node-making calls the ONNX emitter needs (kernels/onnx/onnx-builder.ts GraphBuilder and its `rounded`). */
export interface OnnxNodeMaker {
  add(a: string, b: string, output?: string): string;
  sub(a: string, b: string, output?: string): string;
  mul(a: string, b: string, output?: string): string;
  div(a: string, b: string, output?: string): string;
  max(a: string, b: string, output?: string): string;
  sqrt(a: string, output?: string): string;
  where(condition: string, a: string, b: string, output?: string): string;
  op(opType: string, inputs: readonly string[]): string;
  rename(value: string, output: string): string;
  /** `x` rounded to bf16 storage when `bf16`, else `x` (named `output` either way when given). */
  rounded(x: string, bf16: boolean, output?: string): string;
}

/**
 * Emits a table's rows as ONNX nodes. `bindings` names the tensor of each leaf (inputs, step scalars)
 * and receives each emitted row's tensor under the row's name; `flags` gives the dtype flags.
 */
export class OnnxRows {
  constructor(
    private readonly b: OnnxNodeMaker,
    private readonly table: ExpressionTable,
    readonly bindings: Record<string, string>,
    private readonly flags: Record<string, boolean> = {},
  ) {}

  /** Emit row `name` (its tensor named `output` when given); returns its tensor. */
  emit(name: string, output?: string): string {
    const row = this.table.get(name);
    let result: string;
    if (row.stored === undefined) {
      result = this.node(row.expr, output);
    } else {
      result = this.b.rounded(this.node(row.expr), this.flag(row.stored), output);
    }
    this.bindings[row.name] = result;
    return result;
  }

  private flag(to: Flag): boolean {
    if (to === true) return true;
    const set = this.flags[to];
    if (set === undefined) throw new Error(`expression table ${this.table.family}: no value for flag ${to}`);
    return set;
  }

  /** Post-order, left operand first: the order in which nested builder calls create nodes. */
  private node(e: Expr, output?: string): string {
    const b = this.b;
    switch (e.kind) {
      case 'leaf': {
        const bound = this.bindings[e.name];
        if (bound === undefined) throw new Error(`expression table ${this.table.family}: ${e.name} is not bound`);
        return output ? b.rename(bound, output) : bound;
      }
      case 'sqrt': return b.sqrt(this.node(e.a), output);
      case 'round': return b.rounded(this.node(e.a), this.flag(e.to), output);
      case 'bitsAdd': case 'and': case 'or': case 'shiftRight': case 'bitsConstant':
        // ONNX has no bitcast: graphs round to bf16 with a Cast pair (StepGraph.rounded).
        throw new Error(`expression table ${this.table.family}: ${e.kind} has no ONNX form`);
      case 'maxNan': {
        const x = this.node(e.a), y = this.node(e.b);
        // ONNX's Max does not promise what a NaN operand gives; x + y is NaN when either is.
        const eitherNan = b.op('Or', [b.op('IsNaN', [x]), b.op('IsNaN', [y])]);
        return b.where(eitherNan, b.add(x, y), b.max(x, y), output);
      }
      default: {
        const x = this.node(e.a), y = this.node(e.b);
        return b[e.kind](x, y, output);
      }
    }
  }
}
