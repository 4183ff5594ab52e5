/**
 * Shared by the tfjs tests: the tfjs cpu backend, and a loss whose gradient is exactly a given array.
 */
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// The umbrella package registers every op's gradient (tfjs-core alone does not), as in users' code.
import '@tensorflow/tfjs';
import type { TestContext } from 'node:test';
import * as ours from '../src/tfjs/index.js';
import { registerTfjsWebGpuOnDawn } from '../scripts/tfjs-webgpu-node.js';
import { needsWebGpuAdapter } from './helpers.js';
import * as core from '../src/index.js';

/** Use tfjs's pure-JS cpu backend (tfjs-node needs a native download; the cpu backend is the reference). */
export async function useTfjsCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Use tfjs's wasm backend; in Node its .wasm files are read from the package directory. */
export async function useTfjsWasm(): Promise<void> {
  setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  if (!(await tf.setBackend('wasm'))) throw new Error("tfjs backend 'wasm' did not initialize");
  await tf.ready();
}

/**
 * Use tfjs-backend-webgpu in Node on Dawn's device (scripts/tfjs-webgpu-node.ts). Returns the device,
 * or undefined (and skips `t`) without an adapter.
 */
export async function useTfjsWebGpu(t: TestContext): Promise<GPUDevice | undefined> {
  if (!(await needsWebGpuAdapter(t))) return undefined;
  const device = await registerTfjsWebGpuOnDawn();
  if (!(await tf.setBackend('webgpu'))) throw new Error("tfjs backend 'webgpu' did not initialize on Dawn");
  await tf.ready();
  return device;
}

/** Every class of adamw-lab/tfjs beside its core preset (the oracle for bit-identity). */
export const CLASS_PAIRS = [
  { name: 'AdamW', Tfjs: ours.AdamW, Core: core.AdamW, bf16: false, options: {} },
  { name: 'Adam', Tfjs: ours.Adam, Core: core.Adam, bf16: false, options: {} },
  { name: 'AdamW8bit', Tfjs: ours.AdamW8bit, Core: core.AdamW8bit, bf16: false, options: {} },
  { name: 'StableAdamW', Tfjs: ours.StableAdamW, Core: core.StableAdamW, bf16: false, options: {} },
  { name: 'AdamW8bitKahan', Tfjs: ours.AdamW8bitKahan, Core: core.AdamW8bitKahan, bf16: true, options: {} },
  // optimi's bf16 AdamW: bf16 weights, moments and Kahan buffer.
  { name: 'AdamW (kahan: true)', Tfjs: ours.AdamW, Core: core.AdamW, bf16: true, options: { kahan: true } },
] as const;

/**
 * loss(θ) = Σ g·θ over the variables, so ∂loss/∂θ = g exactly (the sum's gradient is ones, times g):
 * the way to hand tfjs a chosen gradient.
 */
export function linearLoss(variables: tf.Variable[], grads: Float32Array[]): () => tf.Scalar {
  return () => tf.addN(variables.map((v, i) => tf.sum(tf.mul(tf.tensor(grads[i]!, v.shape), v)))) as tf.Scalar;
}

/** The float32 bits of an array, for bit-for-bit comparisons that treat NaNs and signed zeros exactly. */
export function bits(values: ArrayLike<number>): Uint32Array {
  return new Uint32Array(Float32Array.from(values).buffer);
}
