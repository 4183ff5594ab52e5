/**
 * What a backend is: something that allocates state buffers and runs update kernels over them.
 * Backends own no optimizer logic; param groups, validation, step counts and state dicts live in
 * src/optim/.
 * @module
 */
import type { AdamHyperparameters } from '../rules/adam.js';
import type { KernelRegistry, RegisteredKernel } from '../core/kernel-registry.js';
import type { StateStore } from '../core/state-store.js';
import type { Dtype, BufferOf, StateBuffer, TensorPlan, UpdateFamily } from '../core/variants.js';
import type { OnnxExecutionProvider } from '../types.js';

/** One tensor's update: the param, its grad, its named state buffers and the hyperparameters. */
export interface UpdateTask {
  plan: TensorPlan;
  /** Float32Array for fp32 params, Uint16Array (bf16 bits) for bf16 params. */
  param: Float32Array | Uint16Array;
  /** Float32Array, or a bf16 Uint16Array for a bf16 param. */
  grad: Float32Array | Uint16Array;
  /** The plan's buffers by name. */
  buffers: Record<string, StateBuffer>;
  hp: AdamHyperparameters;
  /** The step number t after this update (1 on the first update). */
  step: number;
  /**
   * The kernel this backend registered for the plan's variant, as the optimizer found it in the
   * registry (once per param). Callers outside the optimizer may leave it out: the backend then uses
   * its own kernel of the plan's family.
   */
  kernel?: RegisteredKernel;
}

/** The options a backend is created with (the optimizer's; each backend reads its own). */
export interface BackendOptions {
  threads?: number;
  device?: GPUDevice;
  executionProviders?: readonly OnnxExecutionProvider[];
  /** The state is paged: the backend updates host pages (its resident store is not used). */
  paged: boolean;
}

/** The registry of backends and their kernels (src/backends/registry.ts holds the one instance). */
export type BackendRegistry = KernelRegistry<Backend, BackendOptions>;

/** The kernel of `task`: the one the optimizer looked up, else the backend's kernel of the plan's family from `own`. */
export function taskKernel<K>(task: UpdateTask, own: (plan: TensorPlan) => K): K {
  return (task.kernel as K | undefined) ?? own(task.plan);
}

/** A backend's kernels as one table by family (the same implementation for every variant of a family). */
export function byFamily<K>(table: Record<UpdateFamily, K>): (plan: TensorPlan) => K {
  return (plan) => table[plan.family];
}

/** The kernel-running half of an optimizer. */
export interface Backend {
  /** Human-readable description of where the kernels run, e.g. `'cpu (WebAssembly SIMD, up to 2 threads)'`. */
  readonly description: string;
  /** A zero-filled state buffer, placed where this backend's kernels read it fastest (beside `near` if given). */
  allocate<D extends Dtype>(dtype: D, length: number, near?: ArrayBufferView): BufferOf<D>;
  /** Zero-filled buffers for one tensor's state, placed together so that one kernel call reaches them all. */
  allocateAll(specs: ReadonlyArray<{ dtype: Dtype; length: number }>, near?: ArrayBufferView): StateBuffer[];
  /** Return a buffer from {@link allocate}; it must not be used afterwards. */
  release(buffer: StateBuffer): void;
  /** Run every task; resolves when all params and states are updated. */
  step(tasks: readonly UpdateTask[]): Promise<void>;
  /**
   * Where state lives on the device, when it does: a store of the backend's own, which keeps each
   * param's state in device memory and runs the kernels there. Absent, the state is host buffers from
   * {@link allocate}, kept by the optimizer's resident store. Paged state ignores it.
   */
  residentStore?(): StateStore;
  /** Fill a GPUBuffer grad with zeros (zeroGrad() of a GpuParam); backends with device-resident state only. */
  zeroGpuBuffer?(buffer: GPUBuffer): void;
  /** Free what the backend holds beyond its buffers (sessions, devices). */
  dispose?(): Promise<void>;
}
