/**
 * Where optimizer state lives. The optimizer asks a store to create, read, write and release each
 * param's state and to run a step over it; it never touches buffers directly. The resident store keeps
 * every buffer in the backend's memory; the paged store (./paging.ts) keeps them in a spill file under
 * a resident-memory budget. Both produce bit-identical results because both hand the backend the same
 * element-wise (or 256-element block-wise) tasks.
 * @module
 */
import type { Backend, UpdateTask } from '../backends/backend.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import type { AnyParam, Param } from '../types.js';
import type { StateBuffer, TensorPlan } from './variants.js';

/** One param's state as a store holds it. */
export interface StoredState {
  readonly plan: TensorPlan;
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
  /** Zeroed state for `param` under `plan`. */
  create(param: AnyParam, plan: TensorPlan): StoredState;
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

interface ResidentState extends StoredState {
  buffers: Record<string, StateBuffer>;
}

/** State kept in the backend's memory: the default. */
export class ResidentStore implements StateStore {
  readonly description = 'resident';

  constructor(private readonly backend: Backend) {}

  create(param: AnyParam, plan: TensorPlan): ResidentState {
    const buffers: Record<string, StateBuffer> = {};
    // All together, beside the param when there is room: one kernel call must reach them all.
    const allocated = this.backend.allocateAll(plan.buffers, (param as Param).data);
    plan.buffers.forEach((spec, i) => (buffers[spec.name] = allocated[i]!));
    return { plan, buffers };
  }

  read(state: StoredState): Record<string, StateBuffer> {
    const out: Record<string, StateBuffer> = {};
    for (const [name, buffer] of Object.entries((state as ResidentState).buffers)) out[name] = buffer.slice();
    return out;
  }

  readAsync(state: StoredState): Promise<Record<string, StateBuffer>> {
    return Promise.resolve(this.read(state));
  }

  write(state: StoredState, values: Record<string, ArrayLike<number>>): void {
    for (const [name, buffer] of Object.entries((state as ResidentState).buffers)) buffer.set(values[name]!);
  }

  release(state: StoredState): void {
    for (const buffer of Object.values((state as ResidentState).buffers)) this.backend.release(buffer);
  }

  run(work: readonly StoreWork[]): Promise<void> {
    const tasks: UpdateTask[] = work.map(({ state, param, hp, step }) => ({
      plan: state.plan, param: (param as Param).data, grad: (param as Param).grad!, buffers: (state as ResidentState).buffers, hp, step,
    }));
    return this.backend.step(tasks);
  }

  close(): void {
    // Buffers are released one by one through release().
  }
}
