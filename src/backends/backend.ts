/**
 * What a backend is: something that allocates state buffers and runs kernels over them. Backends own
 * no optimizer logic; param groups, validation, step counts and state dicts live in src/optim/.
 * @module
 */
import type { AdamHyperparameters } from '../rules/adam.js';

/** One tensor's fused Adam/AdamW update: all arrays have the same length. */
export interface AdamTask {
  param: Float32Array;
  grad: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** Present exactly when `hp.amsgrad`. */
  maxExpAvgSq: Float32Array | null;
  hp: AdamHyperparameters;
  /** The step number t after this update (1 on the first update). */
  step: number;
}

/** The kernel-running half of an optimizer. */
export interface Backend {
  /** Human-readable description of where the kernels run, e.g. `'cpu (wasm simd, 2 threads)'`. */
  readonly description: string;
  /** A zero-filled fp32 buffer for optimizer state, placed where this backend's kernels read it fastest. */
  allocate(length: number, near?: Float32Array): Float32Array;
  /** Return a buffer from {@link allocate}; it must not be used afterwards. */
  release(buffer: Float32Array): void;
  /** Run every task; resolves when all params and states are updated. */
  adamStep(tasks: readonly AdamTask[]): Promise<void>;
}
