/**
 * `backend: 'webgpu'`: optimizer state resident on the GPU. Each step uploads params and grads (host
 * arrays), runs each tensor's fused WGSL kernel (kernels/wgsl/) in one command submission, and
 * downloads the updated params into `p.data`, as the CPU path leaves them. State stays on the GPU
 * between steps; reading it is explicit (`stateDictAsync()`, `save()`).
 *
 * Every update family has its kernel: fp32 Adam/AdamW (adam.wgsl), optimi's bf16/Kahan and StableAdamW
 * (optimi.wgsl), bitsandbytes' 8-bit blockwise state with or without diffusion-pipe's Kahan shift
 * (blockwise8bit.wgsl). StableAdamW's per-tensor RMS is three dispatches: partial sums, one reduction
 * (stable-rms.wgsl), and the update.
 *
 * bf16 and u8 buffers live on the GPU as the host lays them out (two or four elements per u32 word),
 * padded to whole quads of four elements. A tensor larger than the device's maxStorageBufferBindingSize
 * is bound in windows, one dispatch each. The device is shared by every WebGPU optimizer for the life
 * of the process; `destroy()` frees this optimizer's buffers.
 * @module
 */
import { adamStepScalars } from '../../rules/adam.js';
import { adam8bitStepScalars, BLOCK_SIZE } from '../../rules/blockwise8bit.js';
import { optimiStepScalars } from '../../rules/optimi.js';
import type { StateStore, StoredState, StoreWork } from '../../optim/state-store.js';
import { ARRAY_TYPES, DTYPE_BYTES, type BufferDtype, type BufferSpec, type StateBuffer, type TensorPlan } from '../../optim/variants.js';
import type { Param } from '../../types.js';
import { quantizationTables } from '../quantization-tables.js';
import { describeDevice } from './describe.js';
import { webgpuDevice } from './device.js';
import { compilePipelines, packScalars, uniformBytes, type KernelName } from './kernels.js';

/** Windows start on whole 8-bit blocks, which also puts every dtype's binding offset on 256 bytes. */
const WINDOW_ALIGN = BLOCK_SIZE;

/** Per device: the pipelines, the 8-bit tables, and placeholders bound where a kernel's buffer is absent. */
interface Kernels {
  device: GPUDevice;
  pipelines: Record<KernelName, GPUComputePipeline>;
  /** Both maps, then both quantization tables (blockwise8bit.wgsl's `tables`). */
  tables: GPUBuffer;
  /** One per optional binding: writable bindings must not alias within a dispatch. */
  placeholders: { vmax: GPUBuffer; kahan: GPUBuffer; reduction: GPUBuffer };
}

let kernels: Promise<Kernels> | undefined;
function deviceKernels(owner: string): Promise<Kernels> {
  kernels ??= webgpuDevice(owner).then(async (device) => {
    const { signed, unsigned } = quantizationTables();
    const words = new Uint32Array(512 + 2 * 65536);
    words.set(new Uint32Array(signed.values.buffer, signed.values.byteOffset, 256), 0);
    words.set(new Uint32Array(unsigned.values.buffer, unsigned.values.byteOffset, 256), 256);
    words.set(signed.entries, 512);
    words.set(unsigned.entries, 512 + 65536);
    const tables = device.createBuffer({ size: words.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: 'quantization tables' });
    device.queue.writeBuffer(tables, 0, words);
    const placeholder = (): GPUBuffer => device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    return {
      device,
      pipelines: await compilePipelines(owner, device),
      tables,
      placeholders: { vmax: placeholder(), kahan: placeholder(), reduction: placeholder() },
    };
  });
  kernels.catch(() => (kernels = undefined));
  return kernels;
}

/** Elements rounded up to whole quads of four (the kernels' unit of work). */
const quads = (length: number): number => Math.ceil(length / 4) * 4;
/** Bytes of `length` elements of `dtype`, rounded up to whole 4-byte words (what writeBuffer and copies move). */
const wordBytes = (dtype: BufferDtype, length: number): number => Math.ceil((length * DTYPE_BYTES[dtype]) / 4) * 4;
/** Bytes of a GPU buffer holding `length` elements of `dtype`, padded to whole quads. */
const gpuBytes = (dtype: BufferDtype, length: number): number => Math.max(16, quads(length) * DTYPE_BYTES[dtype]);

/** One dispatch of a tensor's step, with the uniform it reads (rewritten every step). */
interface Dispatch {
  kernel: KernelName;
  bindGroup: GPUBindGroup;
  uniform: GPUBuffer;
  x: number;
  y: number;
  scalars: (work: StoreWork) => ArrayBuffer;
}

/** Where a state buffer of the plan lives on the GPU (absmax1 and absmax2 share one buffer). */
interface Slot {
  spec: BufferSpec;
  buffer: GPUBuffer;
  byteOffset: number;
}

interface GpuTensor {
  buffers: GPUBuffer[];
  slots: Slot[];
  param: GPUBuffer;
  grad: GPUBuffer;
  /** The windows the dispatches bind, in elements. */
  windows: Array<{ start: number; count: number }>;
  dispatches: Dispatch[];
}

interface GpuState extends StoredState {
  length: number;
  /** Values written before the device existed, applied when the buffers are made. */
  pending?: Record<string, ArrayLike<number>>;
  gpu?: GpuTensor;
}

/** Options of the WebGPU store. */
export interface WebGpuStoreOptions {
  /** Largest window, in elements (default: the device's maxStorageBufferBindingSize); tests lower it. */
  maxWindowElements?: number;
}

/** A typed array of `dtype` holding `values`, padded with zeros to `bytes`. */
function hostArray(dtype: BufferDtype, values: ArrayLike<number>, bytes: number): StateBuffer {
  const out = new ARRAY_TYPES[dtype](bytes / DTYPE_BYTES[dtype]);
  out.set(values);
  return out;
}

export class WebGpuStore implements StateStore {
  /** GPU buffers alive now: state, params, grads, uniforms and the staging buffer. */
  liveBuffers = 0;
  private kernels?: Kernels;
  private staging?: GPUBuffer;

  private readonly states = new Set<GpuState>();

  constructor(private readonly owner: string, private readonly options: WebGpuStoreOptions = {}) {}

  get description(): string {
    return this.kernels ? `webgpu (${describeDevice(this.kernels.device)}, state resident on the device)` : 'webgpu (device not yet requested: it is at the first step)';
  }

  create(param: Param, plan: TensorPlan): GpuState {
    const state: GpuState = { plan, length: param.data.length };
    this.states.add(state);
    return state;
  }

  read(): Record<string, StateBuffer> {
    throw new Error(`${this.owner}: stateDict(): with backend 'webgpu' the state lives on the GPU; read it with await opt.stateDictAsync()`);
  }

  async readAsync(stored: StoredState): Promise<Record<string, StateBuffer>> {
    const { device } = await this.ready();
    const state = this.materialize(stored as GpuState);
    const slots = state.gpu!.slots;
    const sizes = slots.map((slot) => wordBytes(slot.spec.dtype, slot.spec.length));
    const total = sizes.reduce((a, b) => a + b, 0);
    const staging = this.buffer(device, Math.max(4, total), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    let offset = 0;
    slots.forEach((slot, k) => {
      if (sizes[k]! > 0) encoder.copyBufferToBuffer(slot.buffer, slot.byteOffset, staging, offset, sizes[k]);
      offset += sizes[k]!;
    });
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    this.destroyBuffer(staging);
    const out: Record<string, StateBuffer> = {};
    offset = 0;
    slots.forEach((slot, k) => {
      out[slot.spec.name] = new ARRAY_TYPES[slot.spec.dtype](bytes, offset, slot.spec.length);
      offset += sizes[k]!;
    });
    return out;
  }

  write(stored: StoredState, values: Record<string, ArrayLike<number>>): void {
    const state = stored as GpuState;
    if (!state.gpu || !this.kernels) {
      state.pending = values;
      return;
    }
    for (const slot of state.gpu.slots) {
      const bytes = wordBytes(slot.spec.dtype, slot.spec.length);
      // hostArray makes a fresh (unshared) ArrayBuffer.
      if (bytes > 0) this.kernels.device.queue.writeBuffer(slot.buffer, slot.byteOffset, hostArray(slot.spec.dtype, values[slot.spec.name]!, bytes) as Uint8Array<ArrayBuffer>);
    }
  }

  release(stored: StoredState): void {
    const state = stored as GpuState;
    this.states.delete(state);
    if (!state.gpu) return;
    for (const b of state.gpu.buffers) this.destroyBuffer(b);
    state.gpu = undefined;
  }

  async run(work: readonly StoreWork[]): Promise<void> {
    const { device } = await this.ready();
    const paramBytes = work.map((w) => gpuBytes(w.state.plan.paramDtype, w.param.data.length));
    const stagingBytes = paramBytes.reduce((a, b) => a + b, 0);
    if (!this.staging || this.staging.size < stagingBytes) {
      if (this.staging) this.destroyBuffer(this.staging);
      this.staging = this.buffer(device, Math.max(4, stagingBytes), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    }
    const encoder = device.createCommandEncoder();
    this.encodeDispatches(encoder, work, true);
    let offset = 0;
    work.forEach((w, k) => {
      encoder.copyBufferToBuffer((w.state as GpuState).gpu!.param, 0, this.staging!, offset, paramBytes[k]);
      offset += paramBytes[k]!;
    });
    device.queue.submit([encoder.finish()]);
    await this.staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, stagingBytes));
    const updated = this.staging.getMappedRange(0, Math.max(4, stagingBytes));
    offset = 0;
    work.forEach((w, k) => {
      const data = w.param.data;
      data.set(new (data.constructor as Float32ArrayConstructor)(updated, offset, data.length));
      offset += paramBytes[k]!;
    });
    this.staging.unmap();
  }

  /**
   * One step's dispatches alone, over the params and grads uploaded by the last {@link run}: what a
   * step costs when the model already lives on the GPU. bench/gpu.ts holds it to the copy bandwidth.
   */
  async runKernelsOnly(work: readonly StoreWork[]): Promise<void> {
    const { device } = await this.ready();
    const encoder = device.createCommandEncoder();
    this.encodeDispatches(encoder, work, false);
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  }

  /** Every tensor's dispatches in one compute pass, after uploading its param and grad when `upload`. */
  private encodeDispatches(encoder: GPUCommandEncoder, work: readonly StoreWork[], upload: boolean): void {
    const { device, pipelines } = this.kernels!;
    const pass = encoder.beginComputePass();
    for (const w of work) {
      const gpu = this.materialize(w.state as GpuState).gpu!;
      if (upload) {
        // Params may be views of shared WebAssembly memory; writeBuffer accepts those (AllowShared).
        this.upload(gpu.param, w.param.data);
        this.uploadGrad(gpu, w.param.grad!);
      }
      for (const d of gpu.dispatches) {
        device.queue.writeBuffer(d.uniform, 0, d.scalars(w));
        pass.setPipeline(pipelines[d.kernel]);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.x, d.y);
      }
    }
    pass.end();
  }

  close(): void {
    for (const state of [...this.states]) this.release(state);
    if (this.staging) this.destroyBuffer(this.staging);
    this.staging = undefined;
  }

  private async ready(): Promise<Kernels> {
    this.kernels ??= await deviceKernels(this.owner);
    return this.kernels;
  }

  /** Write a host array into a GPU buffer, padded to whole words when its byte length is not. */
  private upload(buffer: GPUBuffer, data: Float32Array | Uint16Array): void {
    const source = data.byteLength % 4 === 0 ? data : hostArray('bf16', data, wordBytes('bf16', data.length));
    this.kernels!.device.queue.writeBuffer(buffer, 0, source as Float32Array<ArrayBuffer>);
  }

  /**
   * The grad, where the dispatches read it: every window binds fp32-sized ranges of the grad buffer
   * (the grad's dtype may change from step to step), so a bf16 grad goes in window by window, each at
   * the start of its range.
   */
  private uploadGrad(gpu: GpuTensor, grad: Float32Array | Uint16Array): void {
    if (grad instanceof Float32Array || gpu.windows.length === 1) {
      this.upload(gpu.grad, grad);
      return;
    }
    for (const w of gpu.windows) {
      const bits = hostArray('bf16', grad.subarray(w.start, w.start + w.count), wordBytes('bf16', w.count)) as Uint16Array<ArrayBuffer>;
      this.kernels!.device.queue.writeBuffer(gpu.grad, w.start * DTYPE_BYTES.f32, bits);
    }
  }

  /** Make the state's GPU buffers (zeros, or the values written before the device existed) and dispatches. */
  private materialize(state: GpuState): GpuState {
    if (state.gpu) return state;
    const { device, pipelines, tables, placeholders } = this.kernels!;
    const { plan, length } = state;
    const buffers: GPUBuffer[] = [];
    // GPUBufferUsage exists only once a device module has loaded Dawn's globals.
    const make = (bytes: number, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC): GPUBuffer => {
      const b = this.buffer(device, bytes, usage);
      buffers.push(b);
      return b;
    };
    const slots: Slot[] = [];
    const byName: Record<string, GPUBuffer> = {};
    const blocks = Math.ceil(length / BLOCK_SIZE);
    const absmax = plan.family === 'blockwise8bit' ? make(Math.max(16, 2 * blocks * 4)) : undefined;
    for (const spec of plan.buffers) {
      if (spec.name === 'absmax1' || spec.name === 'absmax2') {
        slots.push({ spec, buffer: absmax!, byteOffset: spec.name === 'absmax2' ? blocks * 4 : 0 });
        continue;
      }
      byName[spec.name] = make(gpuBytes(spec.dtype, spec.length));
      slots.push({ spec, buffer: byName[spec.name]!, byteOffset: 0 });
    }
    const param = make(gpuBytes(plan.paramDtype, length));
    // Room for an fp32 grad; a bf16 grad uses half of it.
    const grad = make(gpuBytes('f32', length));

    const limit = this.options.maxWindowElements ?? Math.floor(device.limits.maxStorageBufferBindingSize / 4);
    const windowElements = Math.max(WINDOW_ALIGN, Math.floor(limit / WINDOW_ALIGN) * WINDOW_ALIGN);
    const windows: Array<{ start: number; count: number }> = [];
    for (let start = 0; start < length; start += windowElements) windows.push({ start, count: Math.min(windowElements, length - start) });
    /** The part of `buffer` (elements of `dtype`) that a window binds. */
    const range = (buffer: GPUBuffer, dtype: BufferDtype, w: { start: number; count: number }): GPUBufferBinding =>
      ({ buffer, offset: w.start * DTYPE_BYTES[dtype], size: quads(w.count) * DTYPE_BYTES[dtype] });
    const grid = (workgroups: number): { x: number; y: number } => {
      const x = Math.min(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
      return { x, y: Math.ceil(workgroups / x) };
    };
    const dispatches: Dispatch[] = [];
    const dispatch = (kernel: KernelName, resources: GPUBindingResource[], workgroups: number, scalars: (work: StoreWork, x: number) => ArrayBuffer): void => {
      const uniform = make(uniformBytes(kernel), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const bindGroup = device.createBindGroup({
        layout: pipelines[kernel].getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: uniform } }, ...resources.map((resource, i) => ({ binding: i + 1, resource }))],
      });
      const { x, y } = grid(workgroups);
      dispatches.push({ kernel, bindGroup, uniform, x, y, scalars: (work) => scalars(work, x) });
    };
    const gradBf16 = (work: StoreWork): number => (work.param.grad instanceof Uint16Array ? 1 : 0);
    const paramBf16 = plan.paramDtype === 'bf16' ? 1 : 0;

    if (plan.family === 'adam') {
      for (const w of windows) {
        dispatch('adam', [range(param, 'f32', w), range(grad, 'f32', w), range(byName.exp_avg!, 'f32', w), range(byName.exp_avg_sq!, 'f32', w),
          byName.max_exp_avg_sq ? range(byName.max_exp_avg_sq, 'f32', w) : { buffer: placeholders.vmax }],
        Math.ceil(w.count / 256), (work, x) => packScalars('adam', {
          ...adamStepScalars(work.hp, work.step), count: w.count, amsgrad: work.hp.amsgrad ? 1 : 0, rowLength: x * 256,
        }));
      }
    } else {
      // StableAdamW: one partial sum per workgroup of every window, then the lr at reduction[0].
      const workgroupsOf = (w: { count: number }): number => (plan.family === 'optimi' ? Math.ceil(quads(w.count) / 4 / 256) : Math.ceil(w.count / BLOCK_SIZE));
      const partialsOffsets: number[] = [];
      let partials = 0;
      for (const w of windows) {
        partialsOffsets.push(partials);
        const { x, y } = grid(workgroupsOf(w));
        partials += x * y;
      }
      const reduction = plan.stable ? make(4 * (1 + partials)) : placeholders.reduction;
      const modes = plan.stable ? [1, 2] : [0];
      for (const mode of modes) {
        if (mode === 2) {
          dispatch('stableRms', [{ buffer: reduction }], 1, (work) => packScalars('stableRms', { partials, count: length, lr: work.hp.lr }));
        }
        windows.forEach((w, k) => {
          const window = { count: w.count, mode, partialsOffset: partialsOffsets[k]!, paramBf16, kahan: plan.kahan ? 1 : 0 };
          if (plan.family === 'optimi') {
            dispatch('optimi', [range(param, plan.paramDtype, w), range(grad, 'f32', w), range(byName.exp_avg!, plan.momentDtype, w),
              range(byName.exp_avg_sq!, plan.momentDtype, w), byName.kahan_comp ? range(byName.kahan_comp, 'bf16', w) : { buffer: placeholders.kahan },
              { buffer: reduction }],
            workgroupsOf(w), (work, x) => packScalars('optimi', {
              ...optimiStepScalars(work.hp, work.step), ...window, rowLength: x * 256, gradBf16: gradBf16(work),
              momentsBf16: plan.momentDtype === 'bf16' ? 1 : 0, weightDecay: work.hp.weightDecay,
            }));
          } else {
            dispatch('blockwise8bit', [range(param, plan.paramDtype, w), range(grad, 'f32', w), range(byName.state1!, 'u8', w), range(byName.state2!, 'u8', w),
              { buffer: absmax! }, byName.shift ? range(byName.shift, plan.paramDtype, w) : { buffer: placeholders.kahan },
              { buffer: tables }, { buffer: reduction }],
            workgroupsOf(w), (work) => packScalars('blockwise8bit', {
              ...adam8bitStepScalars(work.hp, work.step), ...window, gradBf16: gradBf16(work),
              blockOffset: w.start / BLOCK_SIZE, absmax2At: blocks, weightDecay: work.hp.weightDecay,
            }));
          }
        });
      }
    }
    state.gpu = { buffers, slots, param, grad, windows, dispatches };
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
