/**
 * `backend: 'webgpu'`: optimizer state resident on the GPU. Each step uploads params and grads
 * (host arrays), runs the fused WGSL kernel of kernels/wgsl/adam.wgsl over every tensor in one
 * command submission, and downloads the updated params into `p.data`, as the CPU path leaves them.
 * Moments stay on the GPU between steps; reading them is explicit (`stateDictAsync()`, `save()`).
 *
 * A tensor larger than the device's maxStorageBufferBindingSize is bound in windows, one dispatch
 * each. The device is shared by every WebGPU optimizer for the life of the process; `destroy()`
 * frees this optimizer's buffers. So far only the fp32 Adam family runs here; the variants' WGSL kernels are not written yet
 * and the optimizer refuses them by name.
 * @module
 */
import { adamStepScalars } from '../../rules/adam.js';
import type { StateStore, StoredState, StoreWork } from '../../optim/state-store.js';
import type { StateBuffer, TensorPlan } from '../../optim/variants.js';
import type { Param } from '../../types.js';
import { describeDevice } from './describe.js';
import { webgpuDevice } from './device.js';
import { ADAM_WGSL } from './kernels.generated.js';

/** Invocations per workgroup, as declared in the shader. */
const WORKGROUP = 256;
/** Bytes of the Scalars uniform struct. */
const UNIFORM_BYTES = 48;
/** Windows start on multiples of 64 elements: 256-byte storage offsets, the WebGPU minimum alignment. */
const WINDOW_ALIGN = 64;

/** The device with the compiled Adam pipeline and a placeholder binding, made once per process. */
interface Kernels {
  device: GPUDevice;
  pipeline: GPUComputePipeline;
  /** Bound as v_max when amsgrad is off (the shader does not read it then). */
  placeholder: GPUBuffer;
}

let kernels: Promise<Kernels> | undefined;
function adamKernels(owner: string): Promise<Kernels> {
  kernels ??= webgpuDevice(owner).then((device) => ({
    device,
    pipeline: device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: ADAM_WGSL }), entryPoint: 'main' },
    }),
    placeholder: device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE }),
  }));
  kernels.catch(() => (kernels = undefined));
  return kernels;
}

interface Window {
  start: number;
  count: number;
  uniform: GPUBuffer;
  bindGroup: GPUBindGroup;
  x: number;
  y: number;
}

interface GpuState extends StoredState {
  length: number;
  /** Values written before the device existed, applied when the buffers are made. */
  pending?: Record<string, ArrayLike<number>>;
  gpu?: { buffers: Record<string, GPUBuffer>; param: GPUBuffer; grad: GPUBuffer; windows: Window[] };
}

/** Options of the WebGPU store. */
export interface WebGpuStoreOptions {
  /** Largest window, in elements (default: the device's maxStorageBufferBindingSize); tests lower it. */
  maxWindowElements?: number;
}

export class WebGpuStore implements StateStore {
  /** GPU buffers alive now: state, params, grads, uniforms and the staging buffer. */
  liveBuffers = 0;
  private device?: GPUDevice;
  private pipeline?: GPUComputePipeline;
  private placeholder?: GPUBuffer;
  private staging?: GPUBuffer;

  private readonly states = new Set<GpuState>();

  constructor(private readonly owner: string, private readonly options: WebGpuStoreOptions = {}) {}

  get description(): string {
    return this.device ? `webgpu (${describeDevice(this.device)}, state resident on the device)` : 'webgpu (device not yet requested: it is at the first step)';
  }

  create(_param: Param, plan: TensorPlan): GpuState {
    const state: GpuState = { plan, length: plan.buffers[0]!.length };
    this.states.add(state);
    return state;
  }

  read(): Record<string, StateBuffer> {
    throw new Error(`${this.owner}: stateDict(): with backend 'webgpu' the state lives on the GPU; read it with await opt.stateDictAsync()`);
  }

  async readAsync(stored: StoredState): Promise<Record<string, StateBuffer>> {
    const device = await this.ready();
    const state = this.materialize(device, stored as GpuState);
    const names = state.plan.buffers.map((b) => b.name);
    const bytes = state.length * 4;
    const staging = this.buffer(device, bytes * names.length, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    names.forEach((name, k) => encoder.copyBufferToBuffer(state.gpu!.buffers[name]!, 0, staging, k * bytes, bytes));
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    this.destroyBuffer(staging);
    const out: Record<string, StateBuffer> = {};
    names.forEach((name, k) => (out[name] = all.slice(k * state.length, (k + 1) * state.length)));
    return out;
  }

  write(stored: StoredState, values: Record<string, ArrayLike<number>>): void {
    const state = stored as GpuState;
    if (!state.gpu || !this.device) {
      state.pending = values;
      return;
    }
    for (const [name, buffer] of Object.entries(state.gpu.buffers)) this.device.queue.writeBuffer(buffer, 0, Float32Array.from(values[name]!));
  }

  release(stored: StoredState): void {
    const state = stored as GpuState;
    this.states.delete(state);
    if (!state.gpu) return;
    for (const b of Object.values(state.gpu.buffers)) this.destroyBuffer(b);
    this.destroyBuffer(state.gpu.param);
    this.destroyBuffer(state.gpu.grad);
    for (const w of state.gpu.windows) this.destroyBuffer(w.uniform);
    state.gpu = undefined;
  }

  async run(work: readonly StoreWork[]): Promise<void> {
    const device = await this.ready();
    let stagingBytes = 0;
    for (const w of work) stagingBytes += w.param.data.byteLength;
    if (!this.staging || this.staging.size < stagingBytes) {
      if (this.staging) this.destroyBuffer(this.staging);
      this.staging = this.buffer(device, Math.max(4, stagingBytes), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    }
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipeline!);
    for (const w of work) {
      const state = this.materialize(device, w.state as GpuState);
      const gpu = state.gpu!;
      // Params may be views of shared WebAssembly memory; writeBuffer accepts those (AllowShared).
      device.queue.writeBuffer(gpu.param, 0, w.param.data as Float32Array<ArrayBuffer>);
      device.queue.writeBuffer(gpu.grad, 0, w.param.grad as Float32Array<ArrayBuffer>);
      const s = adamStepScalars(w.hp, w.step);
      for (const window of gpu.windows) {
        const uniform = new ArrayBuffer(UNIFORM_BYTES);
        new Float32Array(uniform, 0, 9).set([s.gradSign, s.decay, s.l2, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.invSqrtBiasCorrection2, s.eps, s.negStepSize]);
        new Uint32Array(uniform, 36, 3).set([window.count, w.hp.amsgrad ? 1 : 0, window.x * WORKGROUP]);
        device.queue.writeBuffer(window.uniform, 0, uniform);
        pass.setBindGroup(0, window.bindGroup);
        pass.dispatchWorkgroups(window.x, window.y);
      }
    }
    pass.end();
    let offset = 0;
    for (const w of work) {
      encoder.copyBufferToBuffer((w.state as GpuState).gpu!.param, 0, this.staging, offset, w.param.data.byteLength);
      offset += w.param.data.byteLength;
    }
    device.queue.submit([encoder.finish()]);
    await this.staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, stagingBytes));
    const updated = new Float32Array(this.staging.getMappedRange(0, Math.max(4, stagingBytes)));
    offset = 0;
    for (const w of work) {
      (w.param.data as Float32Array).set(updated.subarray(offset, offset + w.param.data.length));
      offset += w.param.data.length;
    }
    this.staging.unmap();
  }

  close(): void {
    for (const state of [...this.states]) this.release(state);
    if (this.staging) this.destroyBuffer(this.staging);
    this.staging = undefined;
  }

  private async ready(): Promise<GPUDevice> {
    if (!this.device) {
      const k = await adamKernels(this.owner);
      this.pipeline = k.pipeline;
      this.placeholder = k.placeholder;
      this.device = k.device;
    }
    return this.device;
  }

  /** Make the state's GPU buffers (zeros, or the values written before the device existed). */
  private materialize(device: GPUDevice, state: GpuState): GpuState {
    if (state.gpu) return state;
    const bytes = Math.max(4, state.length * 4);
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffers: Record<string, GPUBuffer> = {};
    for (const spec of state.plan.buffers) buffers[spec.name] = this.buffer(device, bytes, storage);
    const param = this.buffer(device, bytes, storage);
    const grad = this.buffer(device, bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    const limit = this.options.maxWindowElements ?? Math.floor(device.limits.maxStorageBufferBindingSize / 4);
    const windowElements = Math.max(WINDOW_ALIGN, Math.floor(limit / WINDOW_ALIGN) * WINDOW_ALIGN);
    const windows: Window[] = [];
    for (let start = 0; start < state.length; start += windowElements) {
      const count = Math.min(windowElements, state.length - start);
      const workgroups = Math.ceil(count / WORKGROUP);
      const x = Math.min(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
      const uniform = this.buffer(device, UNIFORM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const range = (buffer: GPUBuffer): GPUBufferBinding => ({ buffer, offset: start * 4, size: count * 4 });
      const bindGroup = device.createBindGroup({
        layout: this.pipeline!.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: uniform } },
          { binding: 1, resource: range(param) },
          { binding: 2, resource: range(grad) },
          { binding: 3, resource: range(buffers.exp_avg!) },
          { binding: 4, resource: range(buffers.exp_avg_sq!) },
          { binding: 5, resource: buffers.max_exp_avg_sq ? range(buffers.max_exp_avg_sq) : { buffer: this.placeholder! } },
        ],
      });
      windows.push({ start, count, uniform, bindGroup, x, y: Math.ceil(workgroups / x) });
    }
    state.gpu = { buffers, param, grad, windows };
    if (state.pending) {
      this.write(state, state.pending);
      state.pending = undefined;
    }
    return state;
  }

  private buffer(device: GPUDevice, size: number, usage: number): GPUBuffer {
    this.liveBuffers++;
    return device.createBuffer({ size: Math.ceil(size / 4) * 4, usage });
  }

  private destroyBuffer(buffer: GPUBuffer): void {
    buffer.destroy();
    this.liveBuffers--;
  }
}
