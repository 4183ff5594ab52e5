import { DTYPES, type Dtype } from '../core/dtypes.js';
import type { BufferOf, StateBuffer } from '../core/variants.js';
import { byFamily, taskKernel, type Backend, type BackendRegistry, type UpdateTask } from './backend.js';
import { RULE_KERNELS, type RuleKernel } from './rule-runner.js';

/** A zero-filled plain typed array of a state dtype. */
export function plainBuffer<D extends Dtype>(dtype: D, length: number): BufferOf<D> {
  return new DTYPES[dtype].array(length) as BufferOf<D>;
}

/** The state memory of backends whose buffers are plain host arrays ('js', 'onnx', paged 'webgpu'). */
export abstract class HostArrayBackend implements Pick<Backend, 'allocate' | 'allocateAll' | 'release'> {
  allocate<D extends Dtype>(dtype: D, length: number): BufferOf<D> {
    return plainBuffer(dtype, length);
  }

  allocateAll(specs: ReadonlyArray<{ dtype: Dtype; length: number }>): StateBuffer[] {
    return specs.map((s) => plainBuffer(s.dtype, s.length));
  }

  release(): void {
    // Plain arrays are reclaimed by the garbage collector.
  }
}

/** `backend: 'js'`: the readable reference rules of src/rules/ over plain typed arrays. */
export class JsBackend extends HostArrayBackend implements Backend {
  readonly description = 'js (TypeScript reference rules, float64 arithmetic, 1 thread)';

  step(tasks: readonly UpdateTask[]): Promise<void> {
    for (const task of tasks) taskKernel<RuleKernel>(task, ruleOf)(task);
    return Promise.resolve();
  }
}

const ruleOf = byFamily(RULE_KERNELS);

/** Backend 'js' and its kernels: each family's reference rule serves every variant of it. */
export function registerJsBackend(registry: BackendRegistry): void {
  registry.registerBackend('js', { deviceResidentState: false }, () => new JsBackend());
  registry.registerVariants('js', (variant) => RULE_KERNELS[variant.family]);
}
