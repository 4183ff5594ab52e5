/**
 * The tfjs `webgpu` path of adamw-lab/tfjs: the core's WGSL kernels (the WebGPU store of backend
 * `'webgpu'`) run on tfjs's own `GPUDevice`, on the variables' GPU buffers in place, with the state
 * on the GPU and nothing read back during a step.
 *
 * tfjs calls `applyGradients` synchronously and goes on to encode the next forward pass, so the step
 * is submitted before `applyGradients` returns: tfjs's pending commands first (they compute the
 * gradients), then ours, on the same queue, ahead of everything tfjs encodes afterwards.
 *
 * tfjs-backend-webgpu has no public API for a tensor's GPUBuffer, so this reads its tensor data map
 * (`backend.tensorMap.get(dataId).resource`, as its own `tensorToBinding` does), checked against the
 * shape below when the optimizer first meets the backend.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StoredState, StoreWork } from '../core/state-store.js';
import type { TensorPlan } from '../core/variants.js';
import { WebGpuStore } from '../backends/webgpu/webgpu-store.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import type { GpuParam } from '../types.js';
import { fail, showValue } from '../util/errors.js';

/** One tensor's entry in tfjs-backend-webgpu's tensor data map (4.x). */
interface TfjsGpuTensorData {
  /** The GPUBuffer (or texture) holding the values, once uploaded. */
  resource?: unknown;
  /** Values cached on the CPU (before upload, or after a read). */
  values?: unknown;
  /** Tensors sharing this data. */
  refCount: number;
  /** True when the buffer is the caller's (`tf.tensor({ buffer, zeroCopy: true })`): tfjs never frees it. */
  external?: boolean;
}

/** The part of tfjs-backend-webgpu's `WebGPUBackend` used here. */
interface TfjsWebGpuBackend {
  device: GPUDevice;
  tensorMap: { get(dataId: object): TfjsGpuTensorData | undefined };
  commandEncoder: GPUCommandEncoder | null;
  uploadToGPU(dataId: object): void;
  read(dataId: object): Promise<unknown>;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** One variable's share of the GPU path: its state in the store, and its step. */
export interface GpuSlot {
  kind: 'gpu';
  plan: TensorPlan;
  state: StoredState;
  step: number;
  shape: number[];
  /**
   * For a variable of n elements, n not a multiple of 4: buffers of whole quads that the kernels step
   * in its place. The kernels read and write four elements at a time, and WGSL lets a store past the
   * end of a binding land anywhere inside it; tfjs sizes a variable's buffer to its n elements, and
   * reads all of a buffer back, so it cannot be given a larger one. Copied in and out around each step.
   */
  quads?: { param: GPUBuffer; grad: GPUBuffer };
}

/** One variable's update this step. */
export interface GpuWork {
  variable: tf.Variable;
  grad: tf.Tensor;
  slot: GpuSlot;
  hp: AdamHyperparameters;
}

/** Steps that wrote each tensor data in place (keyed by dataId): a read started before one of them is stale. */
const writesOf = new WeakMap<object, number>();
/** Backends whose `read` is guarded (see guardReads). */
const guarded = new WeakSet<TfjsWebGpuBackend>();

/**
 * tfjs caches the values an async read brings back on the tensor's data, assuming they never change.
 * A read of a variable that is in flight across a step brings back the values before it: keep them
 * out of the cache, so that later reads go to the GPU.
 */
function guardReads(backend: TfjsWebGpuBackend): void {
  if (guarded.has(backend)) return;
  guarded.add(backend);
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object): Promise<unknown> => {
    const writesBefore = writesOf.get(dataId);
    const values = await read(dataId);
    const data = backend.tensorMap.get(dataId);
    if (data && writesOf.get(dataId) !== writesBefore && data.values === values) data.values = null;
    return values;
  };
}

/** Bytes a buffer needs for `numel` fp32 elements: the kernels read and write whole quads of four. */
const quadBytes = (numel: number): number => Math.ceil(numel / 4) * 16;

/** tfjs's webgpu backend, or a clear error when the running tfjs does not have the internals this path uses. */
export function tfjsWebGpuBackend(owner: string, where: string): TfjsWebGpuBackend {
  const backend = tf.backend() as unknown as Partial<TfjsWebGpuBackend>;
  const missing = (['device', 'tensorMap', 'uploadToGPU', 'read', 'endComputePassEncoder', 'submitQueue'] as const).filter((key) => backend[key] == null);
  if (missing.length > 0) {
    fail(Error, owner, where, `tfjs backend 'webgpu' lacks ${missing.join(', ')}`,
      "adamw-lab/tfjs reads the variables' GPUBuffers through tfjs-backend-webgpu 4.x's tensor data map; use @tensorflow/tfjs-backend-webgpu 4.x, or tf.setBackend('wasm') or 'cpu'");
  }
  return backend as TfjsWebGpuBackend;
}

/**
 * The store and device of one optimizer on tfjs's webgpu backend. Device errors of a step (reported
 * by WebGPU asynchronously) are thrown by the next step, naming them.
 */
export class TfjsWebGpuPath {
  readonly store: WebGpuStore;
  readonly device: GPUDevice;
  private deviceError: string | null = null;

  /** `onStepRejected` is called when the device rejects a step, which then counts for nothing. */
  constructor(private readonly owner: string, backend: TfjsWebGpuBackend, private readonly onStepRejected: () => void = () => undefined) {
    this.device = backend.device;
    guardReads(backend);
    this.store = new WebGpuStore(owner, { device: this.device });
    this.watched(() => this.store.prepareSync(), 'compiling the WGSL kernels');
  }

  /** Zeroed state for `variable` under `plan`; its buffers are bound at each step (they change: tfjs makes new gradients). */
  create(variable: tf.Variable, plan: TensorPlan): GpuSlot {
    const param: GpuParam = { data: null as unknown as GPUBuffer, length: variable.size, name: variable.name };
    return { kind: 'gpu', plan, state: this.store.create(param, plan), step: 0, shape: [...variable.shape] };
  }

  /**
   * Refuse a step that cannot run, before any state is made for it: an error the device reported for
   * an earlier step, or a variable or gradient whose values are not in a GPUBuffer. Uploads values
   * still on the CPU (the numbers stay).
   */
  check(backend: TfjsWebGpuBackend, work: ReadonlyArray<{ variable: tf.Variable; grad: tf.Tensor }>): void {
    if (this.deviceError) {
      const error = this.deviceError;
      this.deviceError = null;
      fail(Error, this.owner, 'applyGradients', `the WebGPU device reported an error in an earlier step (${error})`, 'that step changed neither the variables nor the state, and was not counted; report this with the tfjs and browser versions');
    }
    for (const { variable, grad } of work) {
      backend.uploadToGPU(variable.dataId);
      backend.uploadToGPU(grad.dataId);
      const name = showValue(variable.name);
      for (const [label, tensor] of [[`variable ${name}`, variable], [`the gradient of ${name}`, grad]] as const) {
        if (!bufferOf(backend, tensor)) {
          fail(Error, this.owner, 'applyGradients', `${label} has its data in a ${showValue(backend.tensorMap.get(tensor.dataId)?.resource)}, not a GPUBuffer`,
            "adamw-lab runs its kernels on the variables' and gradients' GPUBuffers; make them from float32 tensors");
        }
      }
    }
  }

  /**
   * One step of every variable of `work` (checked by {@link check}), submitted before it returns. A
   * variable whose buffer is not its own (shared with another tensor or a gradient, or the caller's)
   * is first copied into a buffer of its own, on the GPU.
   */
  step(backend: TfjsWebGpuBackend, work: readonly GpuWork[]): void {
    // Each gradient's data is held (a second reference, no copy) until the step is submitted: a variable
    // that is also a gradient of this call (its own, or another's) then shares its buffer, so ownBuffer
    // moves it, and the gradient is read as it was before the step, as on the CPU.
    const heldGrads = work.map(({ grad }) => tf.clone(grad));
    try {
      for (const { variable } of work) this.ownBuffer(backend, variable);
      this.encodeStep(backend, work, heldGrads);
    } finally {
      tf.dispose(heldGrads);
    }
  }

  /** Encode and submit the step, after tfjs's pending commands; `grads[i]` holds the gradient of `work[i]`. */
  private encodeStep(backend: TfjsWebGpuBackend, work: readonly GpuWork[], grads: readonly tf.Tensor[]): void {
    flushTfjs(backend);
    const copiesIn: Array<[GPUBuffer, GPUBuffer, number]> = [];
    const copiesOut: Array<[GPUBuffer, GPUBuffer, number]> = [];
    const storeWork: StoreWork[] = work.map(({ variable, slot, hp }, i) => {
      let data = bufferOf(backend, variable)!;
      let gradBuffer = bufferOf(backend, grads[i]!)!;
      if (variable.size % 4 !== 0) {
        const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
        slot.quads ??= { param: this.device.createBuffer({ size: quadBytes(variable.size), usage }), grad: this.device.createBuffer({ size: quadBytes(variable.size), usage }) };
        const bytes = variable.size * 4;
        copiesIn.push([data, slot.quads.param, bytes], [gradBuffer, slot.quads.grad, bytes]);
        copiesOut.push([slot.quads.param, data, bytes]);
        data = slot.quads.param;
        gradBuffer = slot.quads.grad;
      }
      slot.step++;
      const param: GpuParam = { data, length: variable.size, grad: gradBuffer, name: variable.name };
      return { state: slot.state, param, hp, step: slot.step };
    });
    const copy = (copies: typeof copiesIn) => (encoder: GPUCommandEncoder): void => {
      for (const [from, to, bytes] of copies) encoder.copyBufferToBuffer(from, 0, to, 0, bytes);
    };
    // A rejected command buffer runs none of its commands: the step did not happen, so it is not counted.
    const slots = work.map(({ slot }) => slot);
    this.watched(() => this.store.runSync(storeWork, copy(copiesIn), copy(copiesOut)), 'the step', () => {
      for (const slot of slots) slot.step--;
      this.onStepRejected();
    });
    // tfjs keeps a copy of values it has read on the CPU and serves reads from it: drop it, the GPU holds the new values.
    for (const { variable } of work) {
      backend.tensorMap.get(variable.dataId)!.values = null;
      writesOf.set(variable.dataId, (writesOf.get(variable.dataId) ?? 0) + 1);
    }
  }

  /** Free a variable's state. */
  release(slot: GpuSlot): void {
    this.store.release(slot.state);
    slot.quads?.param.destroy();
    slot.quads?.grad.destroy();
  }

  close(): void {
    this.store.close();
  }

  /**
   * Make `variable`'s data a buffer that only it reads before it is written in place: tfjs shares one
   * buffer between tensors (`tf.variable(t)` and `assign(t)` keep `t`'s, as does a reshape), and a
   * buffer passed with `zeroCopy` is the caller's. A copy on the GPU; the numbers stay.
   */
  private ownBuffer(backend: TfjsWebGpuBackend, variable: tf.Variable): void {
    const data = backend.tensorMap.get(variable.dataId)!;
    const buffer = bufferOf(backend, variable)!;
    if (data.refCount === 1 && !data.external) return;
    flushTfjs(backend);
    const copy = this.device.createBuffer({ size: variable.size * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, copy, 0, variable.size * 4);
    this.device.queue.submit([encoder.finish()]);
    // tfjs copies `copy` into a buffer it owns (of the same size), which the variable then holds alone.
    const own = tf.tensor({ buffer: copy }, variable.shape, 'float32');
    variable.assign(own);
    own.dispose();
    copy.destroy();
  }

  /** Run `action` in a validation error scope; an error it raises is thrown by the next step, after `undo`. */
  private watched(action: () => void, what: string, undo?: () => void): void {
    this.device.pushErrorScope('validation');
    try {
      action();
    } finally {
      void this.device.popErrorScope().then((error) => {
        if (!error) return;
        this.deviceError ??= `${what}: ${error.message}`;
        undo?.();
      });
    }
  }
}

/** The GPUBuffer holding a tensor's values, or undefined when they are elsewhere. */
function bufferOf(backend: TfjsWebGpuBackend, tensor: tf.Tensor): GPUBuffer | undefined {
  const resource = backend.tensorMap.get(tensor.dataId)?.resource;
  return typeof GPUBuffer !== 'undefined' && resource instanceof GPUBuffer ? resource : undefined;
}

/** Submit what tfjs has encoded but not yet submitted (it batches dispatches), so that our step comes after it. */
function flushTfjs(backend: TfjsWebGpuBackend): void {
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}
