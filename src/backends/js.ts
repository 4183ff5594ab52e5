import { adamReferenceStep } from '../rules/adam.js';
import type { AdamTask, Backend } from './backend.js';

/** `backend: 'js'`: the readable reference loop of src/rules/adam.ts over plain Float32Arrays. */
export class JsBackend implements Backend {
  readonly description = 'js (TypeScript reference loop, float64 arithmetic, 1 thread)';

  allocate(length: number): Float32Array {
    return new Float32Array(length);
  }

  release(): void {
    // Plain arrays are reclaimed by the garbage collector.
  }

  adamStep(tasks: readonly AdamTask[]): Promise<void> {
    for (const t of tasks) {
      adamReferenceStep(t.hp, t.step, t.param, t.grad, t.expAvg, t.expAvgSq, t.maxExpAvgSq ?? undefined);
    }
    return Promise.resolve();
  }
}
