/** Test helpers: oracle loading, seeded random numbers, float comparison. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import {
  Adam, AdamW, createParam, fromBf16, toBf16,
  type AdamHyperparameters, type AdamOptimizer, type BackendName, type Fp32Param, type OptimizerOptions, type Param, type ParamGroup, type ParamStateDict, type VariantOptions,
} from '../src/index.js';
import { planTensor, type TensorPlan } from '../src/core/variants.js';
import { webgpuDevice } from '../src/backends/webgpu/device.js';
import { chooseVulkanDriver } from '../scripts/vulkan-driver.js';

export const REPO_ROOT = join(__dirname, '..');

const scratchDirectories: string[] = [];
/**
 * A fresh directory under the OS temp dir, removed with everything in it when this test process
 * exits (each test file runs in its own process), so test runs leave nothing behind in /tmp.
 */
export function scratchDirectory(prefix: string): string {
  if (scratchDirectories.length === 0) {
    process.on('exit', () => {
      for (const directory of scratchDirectories) {
        try {
          rmSync(directory, { recursive: true, force: true });
        } catch {
          // Best effort: a test that left a mount or a read-only folder behind fails on its own.
        }
      }
    });
  }
  const directory = mkdtempSync(join(tmpdir(), prefix));
  scratchDirectories.push(directory);
  return directory;
}

let webgpuAdapter: Promise<boolean> | undefined;
/**
 * True when this machine has a WebGPU adapter; otherwise skips `t`, saying why. Without a GPU's
 * Vulkan driver it uses chromium's SwiftShader (scripts/vulkan-driver.ts). Probed once.
 */
export async function needsWebGpuAdapter(t: TestContext): Promise<boolean> {
  if (!webgpuAdapter) {
    chooseVulkanDriver();
    webgpuAdapter = webgpuDevice('probe').then(() => true, () => false);
  }
  if (await webgpuAdapter) return true;
  t.skip('no WebGPU adapter (install libvulkan1 and chromium for SwiftShader; .ci/run does)');
  return false;
}

let onnxWebGpu: Promise<string | undefined> | undefined;
/**
 * True when ONNX Runtime's WebGPU execution provider runs here (on the same Vulkan driver as
 * {@link needsWebGpuAdapter}); otherwise skips `t` with ONNX Runtime's reason. Probed once.
 */
export async function needsOnnxWebGpu(t: TestContext): Promise<boolean> {
  if (!onnxWebGpu) {
    chooseVulkanDriver();
    const probe = new AdamW([{ data: Float32Array.of(1), grad: Float32Array.of(1) }], { backend: 'onnx', executionProviders: ['webgpu'] });
    onnxWebGpu = probe.step().then(() => undefined, (e: Error) => e.message).finally(() => probe.destroy());
  }
  const reason = await onnxWebGpu;
  if (reason === undefined) return true;
  t.skip(`ONNX Runtime's WebGPU execution provider does not run here: ${reason}`);
  return false;
}

/** One case of test/oracles/torch-adamw.json (PyTorch float64 trajectories). */
export interface TorchCase {
  name: string;
  optimizer: 'AdamW' | 'Adam';
  options: { lr: number; betas: [number, number]; eps: number; weightDecay: number; amsgrad: boolean; maximize: boolean };
  groups: Array<{ params: number[]; lr?: number; weightDecay?: number }> | null;
  sizes: number[];
  steps: number;
  init: number[][];
  grads: number[][][];
  params: number[][][];
  finalState: Array<{ exp_avg: number[]; exp_avg_sq: number[]; max_exp_avg_sq?: number[] }>;
}

/**
 * The PyTorch trajectories (test/oracles/torch-adamw.json, torch.optim in float64). In CI,
 * test/oracles.test.ts also checks the file against the copy it was taken from, when one sits beside the clone.
 */
export function torchCases(): TorchCase[] {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'test/oracles/torch-adamw.json'), 'utf8')) as { cases: TorchCase[] }).cases;
}

export const SHARED_REFERENCE = join(REPO_ROOT, '..', 'shared', 'reference', 'torch-adamw.json');
export const sharedReferenceExists = (): boolean => existsSync(SHARED_REFERENCE);

/** mulberry32: a small, seeded, well-mixed 32-bit generator. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws from a seeded uniform generator (Box–Muller). */
export function seededNormal(seed: number): () => number {
  const u = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** How params are placed for a backend: plain arrays (staged on 'cpu') or adamw-lab arena arrays (in place). */
export type Placement = 'plain' | 'arena';

/** Every backend a lifecycle test runs on, resident and paged (webgpu on SwiftShader without a GPU). */
export interface LifecycleBackend {
  label: string;
  options: OptimizerOptions;
  paged?: boolean;
  gpu?: boolean;
}
export const LIFECYCLE_BACKENDS: LifecycleBackend[] = [
  { label: 'cpu', options: { backend: 'cpu' } },
  { label: 'js', options: { backend: 'js' } },
  { label: 'onnx (cpu provider)', options: { backend: 'onnx', executionProviders: ['cpu'] } },
  { label: 'webgpu', options: { backend: 'webgpu' }, gpu: true },
  { label: 'paged cpu', options: { backend: 'cpu' }, paged: true },
  { label: 'paged js', options: { backend: 'js' }, paged: true },
  { label: 'paged webgpu', options: { backend: 'webgpu' }, paged: true, gpu: true },
];

/** The backend × placement combinations every CPU test runs on. */
export const CPU_PATHS: Array<{ backend: BackendName; placement: Placement; label: string }> = [
  { backend: 'cpu', placement: 'arena', label: 'cpu wasm, in place' },
  { backend: 'cpu', placement: 'plain', label: 'cpu wasm, staged' },
  { backend: 'js', placement: 'plain', label: 'js reference loop' },
];

/** A param holding `values`, placed as asked. */
export function makeParam(values: ArrayLike<number>, placement: Placement, name?: string): Fp32Param {
  if (placement === 'arena') return createParam(values, name);
  const p = { data: Float32Array.from(values), grad: new Float32Array(values.length) };
  return name === undefined ? p : { ...p, name };
}

/** Largest |a − b| / max(1, |b|) over two arrays, with the index where it happens. */
export function maxScaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): { error: number; index: number } {
  let error = 0;
  let index = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (!(e <= error)) {
      error = e;
      index = i;
    }
  }
  return { error, index };
}

/** The fp32 Adam state of a state-dict entry, asserting that it is one. */
export function adamState(entry: ParamStateDict | undefined): { step: number; exp_avg: Float32Array; exp_avg_sq: Float32Array; max_exp_avg_sq?: Float32Array } {
  assert.ok(entry, 'the param has no state');
  assert.ok(entry.exp_avg instanceof Float32Array && entry.exp_avg_sq instanceof Float32Array, 'expected fp32 exp_avg and exp_avg_sq');
  return entry as { step: number; exp_avg: Float32Array; exp_avg_sq: Float32Array; max_exp_avg_sq?: Float32Array };
}

/**
 * Run a PyTorch trajectory case on an optimizer built with `options`, asserting every param after every
 * step within 1e-5·max(1, |ref|). Returns the optimizer, the params, and the flat order of params.
 */
export async function runTorchCase(
  c: TorchCase,
  options: OptimizerOptions,
  make: (values: number[], i: number) => Fp32Param = (values) => ({ data: Float32Array.from(values), grad: new Float32Array(values.length) }),
): Promise<{ opt: AdamOptimizer; params: Fp32Param[]; flat: Fp32Param[] }> {
  const params = c.init.map(make);
  const groups: ParamGroup[] = c.groups
    ? c.groups.map(({ params: indices, ...o }) => ({ ...o, params: indices.map((i) => params[i]!) }))
    : [{ params }];
  const opt = new (c.optimizer === 'Adam' ? Adam : AdamW)(groups, { ...c.options, ...options });
  for (let t = 0; t < c.steps; t++) {
    params.forEach((p, i) => p.grad.set(c.grads[t]![i]!));
    await opt.step();
    params.forEach((p, i) => {
      const { error, index } = maxScaledError(p.data, c.params[t]![i]!);
      assert.ok(error <= 1e-5, `${c.name}, step ${t + 1}, param ${i}[${index}]: got ${p.data[index]}, torch ${c.params[t]![i]![index]} (scaled error ${error})`);
    });
  }
  return { opt, params, flat: groups.flatMap((g) => g.params as Fp32Param[]) };
}

/** An update family as a GPU backend's windowed comparison against the cpu kernel runs it. */
export interface KernelFamilyCase {
  name: string;
  options: VariantOptions;
  dtype: 'fp32' | 'bf16';
  /** Largest scaled difference from the cpu kernel allowed in params and float state. */
  tolerance: number;
  hp?: Partial<AdamHyperparameters>;
  /** Gradients as bf16 bit patterns (bf16 params only). */
  bf16Grads?: boolean;
  /** Put NaN and ±Infinity in the gradients (8-bit state resets those elements' moments). */
  nonFinite?: boolean;
  /** Elements of the tensor (default 9,500); under 4096, 8-bit options fall back to fp32 state. */
  length?: number;
}

/** Every update family, with the options that change its kernel's path. */
export const KERNEL_FAMILY_CASES: KernelFamilyCase[] = [
  { name: 'fp32 AdamW, maximize', options: {}, dtype: 'fp32', tolerance: 1e-6, hp: { maximize: true } },
  { name: 'fp32 Adam with coupled L2 and amsgrad', options: {}, dtype: 'fp32', tolerance: 1e-6, hp: { amsgrad: true, weightDecayMode: 'l2' } },
  { name: '8-bit (AdamW8bit), non-finite grads', options: { stateDtype: '8bit' }, dtype: 'fp32', tolerance: 1e-6, nonFinite: true },
  { name: '8-bit StableAdamW', options: { stateDtype: '8bit', stable: true }, dtype: 'fp32', tolerance: 1e-5 },
  { name: '8-bit with Kahan shift, bf16 params (AdamW8bitKahan)', options: { stateDtype: '8bit', kahan: true }, dtype: 'bf16', tolerance: 1e-2 },
  { name: 'optimi bf16 params with Kahan (AdamW on bf16), bf16 grads', options: {}, dtype: 'bf16', tolerance: 1e-2, bf16Grads: true },
  { name: 'optimi bf16 params without Kahan', options: { kahan: false }, dtype: 'bf16', tolerance: 1e-2 },
  { name: 'StableAdamW (fp32)', options: { stable: true }, dtype: 'fp32', tolerance: 1e-5 },
  { name: 'StableAdamW on bf16 params (bf16 moments in the RMS)', options: { stable: true }, dtype: 'bf16', tolerance: 1e-2 },
  {
    name: 'AdamW8bitKahan with stabilize on a tensor under 4096 (fp32 moments, bf16 params)',
    options: { stateDtype: '8bit', kahan: true, stable: true }, dtype: 'bf16', tolerance: 1e-2, length: 3000,
  },
];

/** A backend under test, driven one tensor at a time. */
export interface TensorStepper {
  step(hp: AdamHyperparameters, step: number): Promise<void>;
  /** The tensor's state buffers by state-dict name. */
  state(): Promise<Record<string, ArrayLike<number>>>;
}

/**
 * Three steps of `family` on a 9,500-element tensor (not a whole number of 256-blocks, so a partial
 * last block) through `stepper`, and on the cpu kernel: params and every state buffer must agree.
 */
export async function assertMatchesCpuKernel(family: KernelFamilyCase, makeStepper: (param: Param, plan: TensorPlan) => TensorStepper): Promise<void> {
  const n = family.length ?? 9_500;
  const normal = seededNormal(31);
  const init = Float32Array.from({ length: n }, normal);
  const grads = [1, 2, 3].map(() => Float32Array.from({ length: n }, (_, i) => normal() * (i % 5 === 0 ? 1 : 0.03)));
  if (family.nonFinite) grads.forEach((g, k) => { g[17 * (k + 1)] = NaN; g[(n >> 1) + k] = Infinity; g[n - 500 - k] = -Infinity; });
  const param = (): Param => (family.dtype === 'bf16'
    ? { data: toBf16(init), grad: family.bf16Grads ? new Uint16Array(n) : new Float32Array(n), dtype: 'bf16' }
    : { data: init.slice(), grad: new Float32Array(n) });
  const hp: AdamHyperparameters = {
    lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, amsgrad: false, maximize: false, weightDecayMode: 'decoupled', ...family.hp,
  };
  const setGrad = (p: Param, g: Float32Array): void => {
    if (p.grad instanceof Uint16Array) p.grad.set(toBf16(g));
    else (p.grad as Float32Array).set(g);
  };
  const ours = param();
  const stepper = makeStepper(ours, planTensor('test', 'p', family.options, family.dtype, n, hp.amsgrad));
  const cpuParam = param();
  const Optimizer = hp.weightDecayMode === 'l2' ? Adam : AdamW;
  const cpu = new Optimizer([cpuParam], { lr: hp.lr, weightDecay: hp.weightDecay, amsgrad: hp.amsgrad, maximize: hp.maximize, ...family.options });
  for (const [k, g] of grads.entries()) {
    setGrad(ours, g);
    setGrad(cpuParam, g);
    await stepper.step(hp, k + 1);
    await cpu.step();
  }
  const values = (b: ArrayLike<number>): Float32Array => (b instanceof Uint16Array ? fromBf16(b) : Float32Array.from(b));
  const paramError = maxScaledError(values(ours.data), values(cpuParam.data)).error;
  assert.ok(paramError < family.tolerance, `params depart from the cpu kernel's by ${paramError}`);
  const state = await stepper.state();
  for (const [name, buffer] of Object.entries(cpu.stateDict().state[0]!)) {
    if (name === 'step') continue;
    const theirs = buffer as ArrayLike<number>;
    if (theirs instanceof Uint8Array) {
      // 8-bit codes: every float32 kernel computes m, v, the absmax and m·(1/absmax) in the same
      // float32 operations, so the codes agree exactly.
      const differing = Array.from(state[name]!).filter((c, i) => c !== theirs[i]!).length;
      assert.equal(differing, 0, `${name}: ${differing} codes differ from the cpu kernel's`);
    } else {
      const error = maxScaledError(values(state[name]!), values(theirs)).error;
      assert.ok(error < Math.max(family.tolerance, 1e-5), `${name} departs from the cpu kernel's by ${error}`);
    }
  }
  cpu.destroy();
}
