/**
 * `backend: 'onnx'`: the fused step as an ONNX graph (kernels/onnx/, generated from TypeScript by
 * kernels/onnx/generate.ts), run by onnxruntime-node. Execution providers are tried in order, CUDA,
 * then WebGPU, then CPU, because ONNX Runtime does not fall back by itself; `description` says which
 * one runs. The Node binding has no IO binding, so every run copies params, grads and state into the
 * runtime and the results back: state stays in host arrays, and each step moves the whole state
 * across (over PCIe with CUDA). So far the fp32 Adam family only.
 * @module
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { adamStepScalars } from '../../rules/adam.js';
import type { BufferDtype, StateBuffer, UpdateFamily } from '../../optim/variants.js';
import type { Backend, UpdateTask } from '../backend.js';
import { plainBuffer } from '../js.js';
import { ADAM_AMSGRAD_ONNX_BASE64, ADAM_ONNX_BASE64 } from './graphs.generated.js';
import { loadOrt, type Ort } from './runtime.js';

/** The order execution providers are tried in. */
export const EXECUTION_PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;

const SCALARS = ['gradSign', 'decay', 'l2', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'invSqrtBiasCorrection2', 'eps', 'negStepSize'] as const;

/** The execution provider chosen for this process, with the ones that failed: probed once. */
let choice: Promise<{ provider: string; unavailable: string[] }> | undefined;

/** Try each execution provider on the plain graph; ONNX Runtime's own log is quieted meanwhile. */
function chooseProvider(owner: string, ort: Ort): Promise<{ provider: string; unavailable: string[] }> {
  choice ??= (async () => {
    const unavailable: string[] = [];
    const logLevel = ort.env.logLevel;
    ort.env.logLevel = 'fatal';
    try {
      for (const provider of EXECUTION_PROVIDERS) {
        try {
          const probe = await ort.InferenceSession.create(decode(ADAM_ONNX_BASE64), { executionProviders: [provider] });
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
  choice.catch(() => (choice = undefined));
  return choice;
}

function decode(base64: string): Uint8Array {
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export class OnnxBackend implements Backend {
  readonly families: readonly UpdateFamily[] = ['adam'];
  /** The execution provider the sessions run on, once the first session exists. */
  provider: string | undefined;
  /** Providers tried and why they failed, for the description. */
  readonly unavailable: string[] = [];
  private sessions = new Map<boolean, Promise<InferenceSession>>();
  private ort: Ort | undefined;

  constructor(private readonly owner: string) {}

  get description(): string {
    return this.provider
      ? `onnx (onnxruntime-node, ${this.provider} execution provider${this.unavailable.length ? `; unavailable: ${this.unavailable.join(', ')}` : ''})`
      : 'onnx (onnxruntime-node; the execution provider is chosen at the first step)';
  }

  allocate<D extends BufferDtype>(dtype: D, length: number) {
    return plainBuffer(dtype, length);
  }

  allocateAll(specs: ReadonlyArray<{ dtype: BufferDtype; length: number }>): StateBuffer[] {
    return specs.map((s) => plainBuffer(s.dtype, s.length));
  }

  release(): void {
    // Plain arrays are reclaimed by the garbage collector; sessions by dispose().
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    for (const task of tasks) {
      const amsgrad = task.hp.amsgrad;
      const session = await this.session(amsgrad);
      const ort = this.ort!;
      const n = task.param.length;
      const tensor = (data: Float32Array): Tensor => new ort.Tensor('float32', data, [n]);
      const s = adamStepScalars(task.hp, task.step);
      const feeds: Record<string, Tensor> = {
        p: tensor(task.param as Float32Array),
        g: tensor(task.grad as Float32Array),
        m: tensor(task.buffers.exp_avg as Float32Array),
        v: tensor(task.buffers.exp_avg_sq as Float32Array),
      };
      if (amsgrad) feeds.vmax = tensor(task.buffers.max_exp_avg_sq as Float32Array);
      for (const name of SCALARS) feeds[name] = new ort.Tensor('float32', Float32Array.of(s[name]), [1]);
      const out = await session.run(feeds);
      (task.param as Float32Array).set(out.p_out!.data as Float32Array);
      (task.buffers.exp_avg as Float32Array).set(out.m_out!.data as Float32Array);
      (task.buffers.exp_avg_sq as Float32Array).set(out.v_out!.data as Float32Array);
      if (amsgrad) (task.buffers.max_exp_avg_sq as Float32Array).set(out.vmax_out!.data as Float32Array);
      for (const value of Object.values(out)) value.dispose();
    }
  }

  /** Release the ONNX Runtime sessions (counted by the tests through `liveSessions`). */
  async dispose(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) await (await s).release();
  }

  /** Sessions alive now. */
  get liveSessions(): number {
    return this.sessions.size;
  }

  private session(amsgrad: boolean): Promise<InferenceSession> {
    let session = this.sessions.get(amsgrad);
    if (!session) {
      session = this.createSession(decode(amsgrad ? ADAM_AMSGRAD_ONNX_BASE64 : ADAM_ONNX_BASE64));
      this.sessions.set(amsgrad, session);
    }
    return session;
  }

  private async createSession(graph: Uint8Array): Promise<InferenceSession> {
    this.ort ??= loadOrt(this.owner);
    const { provider, unavailable } = await chooseProvider(this.owner, this.ort);
    this.provider = provider;
    this.unavailable.splice(0, this.unavailable.length, ...unavailable);
    return this.ort.InferenceSession.create(graph, { executionProviders: [provider] });
  }
}
