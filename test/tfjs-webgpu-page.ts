/**
 * The page test/tfjs-webgpu-browser.test.ts bundles (esbuild) and runs in chromium: tfjs with
 * tfjs-backend-webgpu, adamw-lab/tfjs and the core adamw-lab, imported by their package names as a
 * user's bundle imports them. `runCase` steps tfjs variables with adamw-lab/tfjs and host arrays with
 * the core optimizer on backend 'webgpu' (on tfjs's own device), from the same gradients, and returns
 * both results' float32 bits and the mapAsync calls made during the tfjs steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import * as core from 'adamw-lab';
import * as ours from 'adamw-lab/tfjs';

/** What the test asks for: a class, its options, the variables' initial values and each step's gradients. */
export interface PageCase {
  className: 'AdamW' | 'Adam' | 'AdamW8bit' | 'StableAdamW' | 'AdamW8bitKahan';
  options: Record<string, unknown>;
  shapes: number[][];
  initial: number[][];
  grads: number[][][];
}

/** What the page answers. */
export interface PageResult {
  backend: string;
  executionPath: string;
  /** mapAsync calls while tfjs stepped (each step, with a forward op encoded after it). */
  mapAsyncDuringSteps: number;
  /** The tfjs variables' bits after the last step (read with data(), then with dataSync()), and the bits of an op encoded right after it. */
  tfjsBits: number[][];
  syncBits: number[][];
  nextOpBits: number[][];
  coreBits: number[][];
  error?: string;
}

const bitsOf = (values: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(values).buffer));

async function runCase(spec: PageCase): Promise<PageResult> {
  if (!(await tf.setBackend('webgpu'))) throw new Error("tfjs backend 'webgpu' did not initialize");
  await tf.ready();
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const variables = spec.shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.tensor(spec.initial[i]!, shape), true, `v${i}`)));
  const opt = new ours[spec.className](spec.options);
  let mapAsyncDuringSteps = 0;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with its buffer as `this`
  const mapAsync = GPUBuffer.prototype.mapAsync;
  const nextOps: tf.Tensor[] = [];
  let error: string | undefined;
  // A first op uploads the variables; tfjs then caches the values it reads back on the CPU. The reads
  // after the steps must not be served from that cache.
  tf.dispose(variables.map((v) => tf.add(v, 0)));
  await Promise.all(variables.map((v) => v.data()));
  try {
    GPUBuffer.prototype.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
      mapAsyncDuringSteps++;
      return mapAsync.apply(this, args);
    };
    for (const step of spec.grads) {
      // Gradients computed on the GPU by tfjs (still in its pending command encoder when applyGradients runs).
      const grads = Object.fromEntries(variables.map((v, i) => [v.name, tf.mul(tf.tensor(step[i]!, v.shape), 1)]));
      opt.applyGradients(grads);
      tf.dispose(Object.values(grads));
      tf.dispose(nextOps.splice(0));
      nextOps.push(...variables.map((v) => tf.mul(v, 1)));
    }
  } catch (e) {
    error = (e as Error).message;
  } finally {
    GPUBuffer.prototype.mapAsync = mapAsync;
  }
  const tfjsBits = await Promise.all(variables.map(async (v) => bitsOf(await v.data())));
  const syncBits = variables.map((v) => bitsOf(v.dataSync()));
  const nextOpBits = await Promise.all(nextOps.map(async (y) => bitsOf(await y.data())));
  const executionPath = opt.executionPath;
  opt.dispose();
  tf.dispose([...variables, ...nextOps]);
  if (error) return { backend: tf.getBackend(), executionPath, mapAsyncDuringSteps, tfjsBits, syncBits, nextOpBits, coreBits: [], error };

  const Core = core[spec.className];
  const params: core.Param[] = spec.initial.map((values) => ({ data: Float32Array.from(values), grad: new Float32Array(values.length) }));
  const reference = new Core(params, { ...spec.options, backend: 'webgpu', device });
  for (const step of spec.grads) {
    params.forEach((p, i) => p.grad!.set(step[i]!));
    await reference.step();
  }
  const coreBits = params.map((p) => bitsOf(p.data));
  reference.destroy();
  return { backend: tf.getBackend(), executionPath, mapAsyncDuringSteps, tfjsBits, syncBits, nextOpBits, coreBits };
}

(globalThis as unknown as { runCase: typeof runCase }).runCase = runCase;
