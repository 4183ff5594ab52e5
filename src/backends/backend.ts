/**
 * What a backend is: something that allocates state buffers and runs update kernels over them.
 * Backends own no optimizer logic; param groups, validation, step counts and state dicts live in
 * src/optim/.
 * @module
 */
import type { AdamHyperparameters } from '../rules/adam.js';
import type { BufferDtype, BufferOf, StateBuffer, TensorPlan } from '../core/variants.js';

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
}

/** The kernel-running half of an optimizer. */
export interface Backend {
  /** Human-readable description of where the kernels run, e.g. `'cpu (WebAssembly SIMD, up to 2 threads)'`. */
  readonly description: string;
  /** A zero-filled state buffer, placed where this backend's kernels read it fastest (beside `near` if given). */
  allocate<D extends BufferDtype>(dtype: D, length: number, near?: ArrayBufferView): BufferOf<D>;
  /** Zero-filled buffers for one tensor's state, placed together so that one kernel call reaches them all. */
  allocateAll(specs: ReadonlyArray<{ dtype: BufferDtype; length: number }>, near?: ArrayBufferView): StateBuffer[];
  /** Return a buffer from {@link allocate}; it must not be used afterwards. */
  release(buffer: StateBuffer): void;
  /** Run every task; resolves when all params and states are updated. */
  step(tasks: readonly UpdateTask[]): Promise<void>;
  /** Free what the backend holds beyond its buffers (sessions, devices). */
  dispose?(): Promise<void>;
}
