/**
 * `backend: 'onnx'`: each update family's fused step as an ONNX graph (kernels/onnx/, generated from
 * TypeScript by kernels/onnx/generate.ts), run by onnxruntime-node. Execution providers are tried in
 * order, CUDA, then WebGPU, then CPU, because ONNX Runtime does not fall back by itself; `description`
 * says which one runs.
 *
 * The Node binding has no IO binding, so state stays in host arrays and every run copies the chunk's
 * params, grads and state into the runtime and back (over PCIe with CUDA). Copies are kept down:
 * outputs are preallocated, and an output is written straight over its input wherever the graph
 * reads that input before writing it (its signature's `inPlace`); only bf16 storage (the graphs take
 * float32), the NaN-padded last 8-bit block and views of shared memory (which onnxruntime-node
 * refuses) go through staging arrays.
 * @module
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { fromBf16 } from '../../rules/bf16.js';
import { BLOCK_SIZE } from '../../rules/blockwise8bit.js';
import { stabilizedLr } from '../../rules/debiased.js';
import { DTYPES } from '../../core/dtypes.js';
import { KERNEL_DECLARATIONS, type KernelVariant } from '../../core/kernel-declarations.js';
import { kernelVariantOf, type StateBuffer } from '../../core/variants.js';
import type { OnnxExecutionProvider } from '../../types.js';
import { fail, showValue } from '../../util/errors.js';
import { taskKernel, type Backend, type BackendRegistry, type UpdateTask } from '../backend.js';
import { HostArrayBackend } from '../js.js';
import { onnxGraphName, type OnnxGraphConfig, type OnnxTensorSpec } from './graph-signature.js';
import { ONNX_GRAPHS } from './graphs.generated.js';
import { loadOrt, type Ort } from './runtime.js';

/** The order execution providers are tried in, unless the optimizer's `executionProviders` says otherwise. */
export const EXECUTION_PROVIDERS: readonly OnnxExecutionProvider[] = ['cuda', 'webgpu', 'cpu'];

/**
 * Elements per run. onnxruntime-node returns large outputs slowly (measured here: a 4M-element float
 * output in ~3.5 ms, a 16M-element one in ~210 ms), so a tensor is stepped in chunks of 2^20
 * elements, whole 256-element blocks, which also bounds the staging memory.
 */
export const CHUNK_ELEMENTS = 1 << 20;

/** The execution provider chosen from each list of candidates, with the ones that failed: probed once per process. */
const choices = new Map<string, Promise<{ provider: string; unavailable: string[] }>>();

/** Try each execution provider on the plain graph; ONNX Runtime's own log is quieted meanwhile. */
function chooseProvider(owner: string, ort: Ort, candidates: readonly OnnxExecutionProvider[]): Promise<{ provider: string; unavailable: string[] }> {
  const key = candidates.join(',');
  let choice = choices.get(key);
  if (choice) return choice;
  choice = (async () => {
    const unavailable: string[] = [];
    const logLevel = ort.env.logLevel;
    ort.env.logLevel = 'fatal';
    try {
      for (const provider of candidates) {
        try {
          const probe = await ort.InferenceSession.create(graphBytes('adam'), { executionProviders: [provider] });
          await probe.release();
          return { provider, unavailable };
        } catch (e) {
          unavailable.push(`${provider} (${(e as Error).message.split('\n')[0]!.slice(0, 80)})`);
        }
      }
    } finally {
      ort.env.logLevel = logLevel;
    }
    throw new Error(`${owner}: backend 'onnx': no execution provider could run the graph (${unavailable.join('; ')})`);
  })();
  choices.set(key, choice);
  choice.catch(() => choices.delete(key));
  return choice;
}

function graphBytes(name: string): Uint8Array {
  const binary = atob(ONNX_GRAPHS[name]!.base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * The graph a plan's step runs (or its StableAdamW RMS pass, with `rms`). The RMS pass reads only g
 * and v, so its graph depends on the moments' dtype alone, whatever the param's.
 */
export function graphConfigOf(plan: Omit<KernelVariant, 'stable'>, amsgrad: boolean, rms = false): OnnxGraphConfig {
  return {
    family: plan.family, paramBf16: !rms && plan.paramDtype === 'bf16', momentsBf16: plan.momentDtype === 'bf16',
    kahan: !rms && plan.kahan, amsgrad: plan.amsgrad && amsgrad, rms,
  };
}

/** A kernel variant as backend 'onnx' registers it: the names of its graphs. */
interface OnnxKernel {
  /** The step graph, by whether this step keeps amsgrad's running maximum (a group may switch amsgrad off). */
  step: { amsgrad: string; plain: string };
  /** StableAdamW's first pass. */
  rms?: string;
}

/** The graphs of a variant, or undefined when kernels/onnx/ has not built one of them. */
function onnxKernel(variant: KernelVariant): OnnxKernel | undefined {
  const kernel: OnnxKernel = {
    step: { amsgrad: onnxGraphName(graphConfigOf(variant, true)), plain: onnxGraphName(graphConfigOf(variant, false)) },
    rms: variant.stable ? onnxGraphName(graphConfigOf(variant, false, true)) : undefined,
  };
  const names = [kernel.step.amsgrad, kernel.step.plain, ...(kernel.rms ? [kernel.rms] : [])];
  return names.every((name) => name in ONNX_GRAPHS) ? kernel : undefined;
}

/** Backend 'onnx' and its kernels: every variant whose graphs were built. */
export function registerOnnxBackend(registry: BackendRegistry): void {
  registry.registerBackend('onnx', { deviceResidentState: false }, (owner, options) => {
    const providers = options.executionProviders;
    if (providers !== undefined) {
      if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => !(EXECUTION_PROVIDERS as readonly unknown[]).includes(p))) {
        fail(TypeError, owner, 'options', `executionProviders = ${showValue(providers)} is invalid`, `list one or more of ${EXECUTION_PROVIDERS.map((p) => `'${p}'`).join(', ')}`);
      }
    }
    return new OnnxBackend(owner, { executionProviders: providers });
  });
  registry.registerVariants('onnx', onnxKernel);
}

/** The step scalars of a task's family, with StableAdamW's η_t as `lr`. */
function stepScalars(task: UpdateTask, lr: number): Record<string, number> {
  return KERNEL_DECLARATIONS[task.plan.family].stepScalars(task.hp, task.step, lr);
}

/** The storage of a tensor a graph reads: the param, its grad, or a state buffer. */
function storageOf(task: UpdateTask, name: string): StateBuffer {
  const storage = name === 'param' ? task.param : name === 'grad' ? task.grad : task.buffers[name];
  if (!storage) throw new Error(`adamw-lab: the ONNX graph reads '${name}', which this tensor's plan does not hold`);
  return storage;
}

/** Whether storage can be handed to the graph as it is (float32 or uint8 as the graph wants). */
const matches = (storage: StateBuffer, spec: OnnxTensorSpec): boolean =>
  storage instanceof DTYPES[spec.dtype].array;

/** `backend: 'onnx'`: the fused step graphs of kernels/onnx/ on ONNX Runtime, over host arrays. */
export class OnnxBackend extends HostArrayBackend implements Backend {
  /** The execution provider the sessions run on, once the first session exists. */
  provider: string | undefined;
  /** Providers tried and why they failed, for the description. */
  readonly unavailable: string[] = [];
  /** ONNX Runtime sessions created and not yet released (counted for the leak tests). */
  liveSessions = 0;
  /** Settles once {@link dispose} has released every session. */
  disposal: Promise<void> = Promise.resolve();
  private sessions = new Map<string, Promise<InferenceSession>>();
  private staging = new Map<string, Float32Array | Uint8Array>();
  private ort: Ort | undefined;

  /** Elements per run: {@link CHUNK_ELEMENTS}, or fewer for tests (a multiple of 256). */
  private readonly chunkElements: number;

  private readonly executionProviders: readonly OnnxExecutionProvider[];

  constructor(private readonly owner: string, options: { chunkElements?: number; executionProviders?: readonly OnnxExecutionProvider[] } = {}) {
    super();
    this.chunkElements = options.chunkElements ?? CHUNK_ELEMENTS;
    this.executionProviders = options.executionProviders ?? EXECUTION_PROVIDERS;
    if (this.chunkElements % BLOCK_SIZE !== 0) throw new RangeError(`${owner}: backend 'onnx': chunkElements must be a multiple of ${BLOCK_SIZE}`);
  }

  get description(): string {
    return this.provider
      ? `onnx (onnxruntime-node, ${this.provider} execution provider${this.unavailable.length ? `; unavailable: ${this.unavailable.join(', ')}` : ''})`
      : 'onnx (onnxruntime-node; the execution provider is chosen at the first step)';
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    for (const task of tasks) {
      const n = task.param.length;
      const kernel = taskKernel(task, (plan) => onnxKernel(kernelVariantOf(plan))!);
      let lr = task.hp.lr;
      if (kernel.rms) {
        // StableAdamW: $\eta_t = \eta / \max(1, \sqrt{\operatorname{mean}(g^2/\max(\hat v, \epsilon^2))})$ over the
        // whole tensor, from a first pass that writes nothing; its chunk sums add up in float64.
        const rms = kernel.rms;
        let sum = 0;
        for (let start = 0; start < n; start += this.chunkElements) {
          sum += (await this.runChunk(rms, task, start, Math.min(n, start + this.chunkElements), stepScalars(task, lr)))!;
        }
        lr = stabilizedLr(task.hp.lr, sum, n).lr;
      }
      const graph = task.hp.amsgrad ? kernel.step.amsgrad : kernel.step.plain;
      const scalars = stepScalars(task, lr);
      for (let start = 0; start < n; start += this.chunkElements) await this.runChunk(graph, task, start, Math.min(n, start + this.chunkElements), scalars);
    }
  }

  /** Release every ONNX Runtime session; {@link disposal} settles when they are gone. */
  dispose(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.staging.clear();
    this.disposal = (async () => {
      for (const s of sessions) {
        await (await s).release();
        this.liveSessions--;
      }
    })();
    return this.disposal;
  }

  /**
   * Run one graph over elements [start, end) of a task: feed its signature's tensors and scalars,
   * write the outputs back. Returns `rms_sum` for an RMS pass.
   */
  private async runChunk(name: string, task: UpdateTask, start: number, end: number, scalars: Record<string, number>): Promise<number | undefined> {
    const { signature } = ONNX_GRAPHS[name] ?? { signature: undefined };
    if (!signature) throw new Error(`adamw-lab: no ONNX graph '${name}' (kernels/onnx/graphs.ts GRAPH_CONFIGS lacks it)`);
    const session = await this.session(name);
    const ort = this.ort!;
    const count = end - start;
    const blocks = Math.ceil(count / BLOCK_SIZE);
    const padded = signature.blocked && blocks * BLOCK_SIZE !== count;
    const dimsOf = (spec: OnnxTensorSpec): number[] =>
      spec.layout === 'blocks' ? [blocks, 1] : signature.blocked ? [blocks, BLOCK_SIZE] : [count];
    const rangeOf = (spec: OnnxTensorSpec): [number, number] =>
      spec.layout === 'blocks' ? [start / BLOCK_SIZE, start / BLOCK_SIZE + blocks] : [start, end];

    const feeds: Record<string, Tensor> = {};
    const inputs = new Map<string, { data: Float32Array | Uint8Array; direct: boolean }>();
    for (const spec of signature.tensors) {
      const [a, b] = rangeOf(spec);
      const whole = storageOf(task, spec.name);
      const storage = whole.subarray(a, b);
      // onnxruntime-node refuses ('Invalid argument') a tensor over a SharedArrayBuffer, such as
      // createParam's views of adamw-lab's WebAssembly memory: those go through staging too.
      const direct = matches(whole, spec) && whole.buffer instanceof ArrayBuffer && !(padded && spec.layout === 'elements');
      let data: Float32Array | Uint8Array;
      if (direct) {
        data = storage as Float32Array | Uint8Array;
      } else {
        data = this.stagingArray(`${spec.name}:in`, spec, dimsOf(spec));
        // Padding past the tensor: NaN grads, which the 8-bit graph treats as "no update here".
        if (padded) data.fill(spec.name === 'grad' ? NaN : 0);
        widen(storage, data);
      }
      inputs.set(spec.name, { data, direct });
      feeds[spec.name] = new ort.Tensor(DTYPES[spec.dtype].onnxRuntime!, data, dimsOf(spec));
    }
    for (const name of signature.scalars) {
      const value = scalars[name];
      if (value === undefined) throw new Error(`adamw-lab: the ONNX graph '${name}' wants scalar '${name}', which its step scalars lack`);
      feeds[name] = new ort.Tensor(DTYPES.fp32.onnxRuntime!, Float32Array.of(value), [1]);
    }

    const fetches: Record<string, Tensor | null> = {};
    const targets = new Map<string, Float32Array | Uint8Array>();
    for (const spec of signature.outputs) {
      if (!spec.updates) {
        fetches[spec.name] = null;
        continue;
      }
      const target = spec.inPlace ? inputs.get(spec.updates)!.data : this.stagingArray(`${spec.name}:out`, spec, dimsOf(spec));
      targets.set(spec.updates, target);
      fetches[spec.name] = new ort.Tensor(DTYPES[spec.dtype].onnxRuntime!, target, dimsOf(spec));
    }
    const results = await session.run(feeds, fetches);

    for (const spec of signature.outputs) {
      if (!spec.updates) continue;
      // Written straight into the storage already when in place over a direct input.
      if (spec.inPlace && inputs.get(spec.updates)!.direct) continue;
      const [a, b] = rangeOf(spec);
      narrow(targets.get(spec.updates)!, storageOf(task, spec.updates).subarray(a, b));
    }
    const rmsSum = results.rms_sum ? (results.rms_sum.data as Float32Array)[0] : undefined;
    for (const value of Object.values(results)) value.dispose();
    return rmsSum;
  }

  /** A reusable staging array for one role, at least as long as `dims` needs. */
  private stagingArray(role: string, spec: OnnxTensorSpec, dims: number[]): Float32Array | Uint8Array {
    const length = dims.reduce((x, y) => x * y, 1);
    let array = this.staging.get(role);
    if (!array || array.length < length) {
      array = new (DTYPES[spec.dtype].array as Float32ArrayConstructor | Uint8ArrayConstructor)(length);
      this.staging.set(role, array);
    }
    return array.subarray(0, length);
  }

  private session(name: string): Promise<InferenceSession> {
    let session = this.sessions.get(name);
    if (!session) {
      session = this.createSession(graphBytes(name));
      this.sessions.set(name, session);
    }
    return session;
  }

  private async createSession(graph: Uint8Array): Promise<InferenceSession> {
    this.ort ??= loadOrt(this.owner);
    const { provider, unavailable } = await chooseProvider(this.owner, this.ort, this.executionProviders);
    this.provider = provider;
    this.unavailable.splice(0, this.unavailable.length, ...unavailable);
    const session = await this.ort.InferenceSession.create(graph, { executionProviders: [provider] });
    this.liveSessions++;
    return session;
  }
}

/** Copy storage into a graph input: bf16 bit patterns become the float32 values they stand for. */
function widen(storage: StateBuffer, into: Float32Array | Uint8Array): void {
  if (storage instanceof Uint16Array) {
    fromBf16(storage, into as Float32Array<ArrayBuffer>); // staging arrays own plain ArrayBuffers
  } else {
    into.set(storage.subarray(0, Math.min(storage.length, into.length)));
  }
}

/** Copy a graph output into storage: float32 holding bf16 values (rounded by the graph) keep their top 16 bits. */
function narrow(output: Float32Array | Uint8Array, storage: StateBuffer): void {
  if (storage instanceof Uint16Array) {
    const bits = new Uint32Array(output.buffer, output.byteOffset, storage.length);
    for (let i = 0; i < storage.length; i++) storage[i] = bits[i]! >>> 16;
  } else {
    storage.set(output.subarray(0, storage.length));
  }
}
