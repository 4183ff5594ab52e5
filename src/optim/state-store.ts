/**
 * Where optimizer state lives. The optimizer asks a store to create, read, write and release each
 * param's state and to run a step over it; it never touches buffers directly. The resident store keeps
 * every buffer in the backend's memory; the paged store (./paging.ts) keeps them in a spill file under
 * a resident-memory budget. Both produce bit-identical results because both hand the backend the same
 * element-wise (or 256-element block-wise) tasks.
 * @module
 */
import type { Backend, UpdateTask } from '../backends/backend.js';
import type { AnyParam, Param } from '../types.js';
import type { RegisteredKernel } from '../core/kernel-registry.js';
import type { StateStore, StoredState, StoreWork } from '../core/state-store.js';
import type { StateBuffer, TensorPlan } from '../core/variants.js';

export type { PagingStats, StateStore, StoredState, StoreWork } from '../core/state-store.js';

interface ResidentState extends StoredState {
  buffers: Record<string, StateBuffer>;
}

/** State kept in the backend's memory: the default. */
export class ResidentStore implements StateStore {
  readonly description = 'resident';

  constructor(private readonly backend: Backend) {}

  create(param: AnyParam, plan: TensorPlan, kernel?: RegisteredKernel): ResidentState {
    const buffers: Record<string, StateBuffer> = {};
    // All together, beside the param when there is room: one kernel call must reach them all.
    const allocated = this.backend.allocateAll(plan.buffers, (param as Param).data);
    plan.buffers.forEach((spec, i) => (buffers[spec.name] = allocated[i]!));
    return { plan, kernel, buffers };
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
      plan: state.plan, param: (param as Param).data, grad: (param as Param).grad!, buffers: (state as ResidentState).buffers, hp, step, kernel: state.kernel,
    }));
    return this.backend.step(tasks);
  }

  close(): void {
    // Buffers are released one by one through release().
  }
}
