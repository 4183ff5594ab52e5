/**
 * The interface of a state store (where each tensor's optimizer state lives: resident, paged, or on
 * a GPU) and its work items. Backends implement it and the optimizer drives it, so it sits below both.
 * @module
 */
import type { AdamHyperparameters } from '../rules/adam.js';
import type { AnyParam } from '../types.js';
import type { RegisteredKernel } from './kernel-registry.js';
import type { StateBuffer, TensorPlan } from './variants.js';

/** One param's state as a store holds it. */
export interface StoredState {
  readonly plan: TensorPlan;
  /** The kernel the optimizer found in the registry for the plan (undefined: the backend's own of the plan's family). */
  readonly kernel?: RegisteredKernel;
}

/** One param's share of a step. */
export interface StoreWork {
  state: StoredState;
  /** GpuParams reach only the WebGPU store; the optimizer refuses them with other backends. */
  param: AnyParam;
  hp: AdamHyperparameters;
  /** The step number after this update. */
  step: number;
  /** Elements to update, from the start (default: all of the state's): the shorter last page of paged WebGPU state. */
  elements?: number;
}

/** Resident-memory statistics of a paged store (./paging.ts). */
export interface PagingStats {
  /** Bytes of one frame (one page of the tensor with the most state per element, aligned). */
  frameBytes: number;
  /** Frames in the ring: budget / frameBytes. */
  frames: number;
  /** The budget asked for. */
  budgetBytes: number;
  /** Most frame bytes ever allocated at once (the frames are allocated once, on the first step). */
  peakResidentBytes: number;
  /** Pages whose read from the spill file has been issued so far. */
  pagesRequested: number;
  /** Pages read from the spill file so far. */
  pagesRead: number;
  /** Pages written back to the spill file so far. */
  pagesWritten: number;
}

/** The storage of optimizer state. */
export interface StateStore {
  /** Human-readable description, e.g. `'resident'` or `'paged: 4 pages of 16 MiB in /tmp/…'`. */
  readonly description: string;
  /** Zeroed state for `param` under `plan`, updated by `kernel` (the registry's, for the store's backend). */
  create(param: AnyParam, plan: TensorPlan, kernel?: RegisteredKernel): StoredState;
  /** Copies of the state's buffers, by name (throws where the state is not on the host: use readAsync). */
  read(state: StoredState): Record<string, StateBuffer>;
  /** Copies of the state's buffers, by name, wherever the state lives. */
  readAsync(state: StoredState): Promise<Record<string, StateBuffer>>;
  /** Overwrite the state's buffers with `values` (already checked for names, types and lengths). */
  write(state: StoredState, values: Record<string, ArrayLike<number>>): void;
  /** Free the state. */
  release(state: StoredState): void;
  /** Update every param of `work` (all have grads). */
  run(work: readonly StoreWork[]): Promise<void>;
  /** Free everything the store holds (files included). */
  close(): void;
}
