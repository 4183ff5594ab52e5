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

/** Bytes a buffer needs for `numel` fp32 elements: the kernels read and write whole quads of four. */
const quadBytes = (numel: number): number => Math.ceil(numel / 4) * 16;

/** tfjs's webgpu backend, or a clear error when the running tfjs does not have the internals this path uses. */
export function tfjsWebGpuBackend(owner: string, where: string): TfjsWebGpuBackend {
  const backend = tf.backend() as unknown as Partial<TfjsWebGpuBackend>;
  const missing = (['device', 'tensorMap', 'uploadToGPU', 'endComputePassEncoder', 'submitQueue'] as const).filter((key) => backend[key] == null);
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

  constructor(private readonly owner: string, backend: TfjsWebGpuBackend) {
    this.device = backend.device;
    this.store = new WebGpuStore(owner, { device: this.device });
    this.watched(() => this.store.prepareSync(), 'compiling the WGSL kernels');
  }

  /** Zeroed state for `variable` under `plan`; its buffers are bound at each step (they change: tfjs makes new gradients). */
  create(variable: tf.Variable, plan: TensorPlan): GpuSlot {
    const param: GpuParam = { data: null as unknown as GPUBuffer, length: variable.size, name: variable.name };
    return { kind: 'gpu', plan, state: this.store.create(param, plan), step: 0, shape: [...variable.shape] };
  }

  /**
   * One step of every variable of `work`, submitted before it returns. A variable whose buffer is not
   * its own (shared with another tensor, or the caller's) is first copied into a buffer of its own, on the GPU.
   */
  step(backend: TfjsWebGpuBackend, work: readonly GpuWork[]): void {
    if (this.deviceError) {
      const error = this.deviceError;
      this.deviceError = null;
      fail(Error, this.owner, 'applyGradients', `the WebGPU device reported an error in an earlier step (${error})`, 'the variables were not updated by that step; report this with the tfjs and browser versions');
    }
    for (const { variable, grad } of work) {
      backend.uploadToGPU(variable.dataId);
      backend.uploadToGPU(grad.dataId);
    }
    for (const { variable } of work) this.ownBuffer(backend, variable);
    flushTfjs(backend);
    const copiesIn: Array<[GPUBuffer, GPUBuffer, number]> = [];
    const copiesOut: Array<[GPUBuffer, GPUBuffer, number]> = [];
    const storeWork: StoreWork[] = work.map(({ variable, grad, slot, hp }) => {
      let data = bufferOf(backend, variable)!;
      let gradBuffer = bufferOf(backend, grad)!;
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
    this.watched(() => this.store.runSync(storeWork, copy(copiesIn), copy(copiesOut)), 'the step');
    // tfjs keeps a copy of values it has read on the CPU and serves reads from it: drop it, the GPU holds the new values.
    for (const { variable } of work) backend.tensorMap.get(variable.dataId)!.values = null;
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
    const buffer = bufferOf(backend, variable);
    if (!buffer) {
      fail(Error, this.owner, 'applyGradients', `variable ${showValue(variable.name)} has its data in a ${showValue(data.resource)}, not a GPUBuffer`,
        "adamw-lab runs its kernels on the variables' GPUBuffers; create the variable from a float32 tensor");
    }
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

  /** Run `action` in a validation error scope; an error it raises is thrown by the next step. */
  private watched(action: () => void, what: string): void {
    this.device.pushErrorScope('validation');
    try {
      action();
    } finally {
      void this.device.popErrorScope().then((error) => {
        if (error) this.deviceError ??= `${what}: ${error.message}`;
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
