/**
 * `backend: 'webgpu'`: optimizer state resident on the GPU, every tensor that shares a kernel updated
 * by one dispatch.
 *
 * The store lays those tensors end to end in an *slab*: one param buffer, one grad buffer and one
 * buffer per state (m, v, …), each tensor a *segment* starting on a unit of 256 elements. A lookup
 * buffer names each unit's segment, and a segments buffer holds every segment's step scalars (its
 * group's hyperparameters, its step, its grad's dtype, whether it has a grad this step), rewritten
 * with one write per step. So a step over a model's hundreds of tensors is one dispatch per slab:
 * one for fp32 AdamW; three for StableAdamW (moments and sums, per-tensor RMS, params); a few more
 * when a slab outgrows maxStorageBufferBindingSize and is bound in windows.
 *
 * Host-array params are uploaded into their segments, and the updated params downloaded into
 * `p.data`, as the CPU path leaves them. GPUBuffer params (`GpuParam`) are bound where they are, one
 * slab each, and nothing crosses the bus. State stays on the GPU; reading it is explicit
 * (`stateDictAsync()`, `save()`).
 *
 * Every update family has its kernel (kernels/wgsl/): fp32 Adam/AdamW (adam.wgsl), optimi's bf16/Kahan
 * and StableAdamW (debiased.wgsl), bitsandbytes' 8-bit blockwise state with or without diffusion-pipe's
 * Kahan shift (blockwise8bit.wgsl), and StableAdamW's per-tensor RMS (stable-rms.wgsl). bf16 and u8
 * buffers live on the GPU as the host lays them out (two or four elements per u32 word).
 * @module
 */
import { BLOCK_SIZE } from '../../rules/blockwise8bit.js';
import type { RegisteredKernel } from '../../core/kernel-registry.js';
import type { StateStore, StoredState, StoreWork } from '../../core/state-store.js';
import { DTYPES, type Dtype } from '../../core/dtypes.js';
import { isPerBlock, type BufferSpec, type StateBuffer, type TensorPlan } from '../../core/variants.js';
import type { AnyParam, GpuDeviceLike, GpuParam } from '../../types.js';
import { gpuGradDtype, isGpuParam, paramLength } from '../../core/params.js';
import { quantizationTables } from '../quantization-tables.js';
import { describeDevice } from './describe.js';
import { settledWebgpuDevice, webgpuDevice } from './device.js';
import { compilePipelines, compilePipelinesSync, packSegment, packWindow, segmentBytes, type KernelName } from './kernels.js';
import { WGSL_KERNELS, type WgslKernel } from './wgsl-kernels.js';

/** Elements per unit: a workgroup's share of a slab, and the alignment of every segment. */
const UNIT = BLOCK_SIZE;
/** Entries of the 8-bit tables after the lookup's per-unit part: both maps, then both quantization tables. */
const TABLE_WORDS = 512 + 2 * 65536;

/** Per device: the pipelines, the 8-bit tables, and placeholders bound where a kernel's buffer is absent. */
interface Kernels {
  device: GPUDevice;
  pipelines: Record<KernelName, GPUComputePipeline>;
  /** Both maps, then both quantization tables (blockwise8bit.wgsl's `table()`). */
  tables: Uint32Array;
  /** One per optional binding: writable bindings must not alias within a dispatch. */
  placeholders: { vmax: GPUBuffer; kahan: GPUBuffer; reduction: GPUBuffer };
}

const kernelsByDevice = new WeakMap<GPUDevice, Promise<Kernels>>();
function deviceKernels(owner: string, device: GPUDevice): Promise<Kernels> {
  let kernels = kernelsByDevice.get(device);
  if (!kernels) {
    kernels = (async () => kernelsOn(device, await compilePipelines(owner, device)))();
    kernelsByDevice.set(device, kernels);
    kernels.catch(() => kernelsByDevice.delete(device));
  }
  return kernels;
}

/** The kernels on `device` around its compiled `pipelines`: the 8-bit tables and the placeholders. */
function kernelsOn(device: GPUDevice, pipelines: Record<KernelName, GPUComputePipeline>): Kernels {
  const { signed, unsigned } = quantizationTables();
  const tables = new Uint32Array(TABLE_WORDS);
  tables.set(new Uint32Array(signed.values.buffer, signed.values.byteOffset, 256), 0);
  tables.set(new Uint32Array(unsigned.values.buffer, unsigned.values.byteOffset, 256), 256);
  tables.set(signed.entries, 512);
  tables.set(unsigned.entries, 512 + 65536);
  const placeholder = (): GPUBuffer => device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  return { device, pipelines, tables, placeholders: { vmax: placeholder(), kahan: placeholder(), reduction: placeholder() } };
}

/** Units (of 256 elements) that `length` elements span. */
const unitsOf = (length: number): number => Math.ceil(length / UNIT);

/** A byte range of a host slab's param buffer to download, and the stepped params in it (offsets within the range). */
interface DownloadRun { buffer: GPUBuffer; from: number; size: number; stagingOffset: number; params: Array<{ param: AnyParam; offset: number }> }

/**
 * The host slabs' stepped params, as runs of neighbouring segments laid end to end in one staging
 * buffer: a param without a grad this step is neither updated nor copied back.
 */
function downloadRuns(active: readonly Slab[], byState: ReadonlyMap<GpuState, StoreWork>): DownloadRun[] {
  const runs: DownloadRun[] = [];
  let stagingOffset = 0;
  for (const slab of active) {
    if (!slab.param) continue;
    const unitBytes = UNIT * DTYPES[slab.plan.paramDtype].bytes;
    let run: DownloadRun | undefined;
    for (const member of slab.members) {
      const work = byState.get(member);
      if (!work) {
        run = undefined;
        continue;
      }
      const from = member.firstUnit * unitBytes, size = unitsOf(member.length) * unitBytes;
      if (!run) {
        run = { buffer: slab.param, from, size: 0, stagingOffset, params: [] };
        runs.push(run);
      }
      run.params.push({ param: work.param, offset: from - run.from });
      run.size += size;
      stagingOffset += size;
    }
  }
  return runs;
}

/** Bytes of `length` elements of `dtype`, rounded up to whole 4-byte words (what writeBuffer and copies move). */
const wordBytes = (dtype: Dtype, length: number): number => Math.ceil((length * DTYPES[dtype].bytes) / 4) * 4;


/** Largest piece of a shared-memory view copied through a plain buffer per writeBuffer (4 MiB, a multiple of 4). */
const HOST_STAGING_BYTES = 4 << 20;

/** The dtype of a plan's buffer `name` (a buffer the plan lacks is bound as a placeholder, whatever its dtype). */
const bufferDtype = (plan: TensorPlan, name: string): Dtype => plan.buffers.find((b) => b.name === name)?.dtype ?? 'fp32';

/** Tensors whose plans share everything but their length run in one slab. */
export const slabKey = (plan: TensorPlan): string =>
  JSON.stringify([plan.family, plan.paramDtype, plan.momentDtype, plan.kahan, plan.stable, plan.buffers.map((b) => [b.name, b.dtype])]);

/** Tensors laid end to end in one set of buffers, updated by one dispatch per window (and mode). */
interface Slab {
  kernel: WgslKernel;
  /** The first member's plan: the dtypes and buffer names every member shares. */
  plan: TensorPlan;
  members: GpuState[];
  units: number;
  /** Buffers this store made for the slab (not a caller's GPUBuffer param). */
  owned: GPUBuffer[];
  /** The state buffers by name; absmax1 and absmax2 both name the 8-bit `absmax` buffer. */
  state: Record<string, GPUBuffer>;
  /** Per-unit sums and per-segment η_t of StableAdamW: the 8-bit `absmax` buffer, or optimi's own. */
  reduction?: GPUBuffer;
  segments: GPUBuffer;
  rmsSegments?: GPUBuffer;
  lookup: GPUBuffer;
  /** Binding windows, in units. */
  windows: Array<{ firstUnit: number; units: number }>;
  /** The slab's own param and grad buffers; a GpuParam's slab binds the caller's instead. */
  param?: GPUBuffer;
  grad?: GPUBuffer;
  /** The dispatches, their windows' uniforms, and the caller's buffers they were made for (rebuilt when those change). */
  dispatches: Array<{ kernel: KernelName; bindGroup: GPUBindGroup; x: number; y: number }>;
  windowUniforms: GPUBuffer[];
  boundTo?: { data: unknown; grad: unknown };
}

interface GpuState extends StoredState {
  /** The kernel registered for the state's plan (WGSL_KERNELS' entry of its family). */
  readonly kernel: WgslKernel;
  length: number;
  /** The caller's param, when its data is a GPUBuffer. */
  gpuParam?: GpuParam;
  slab?: Slab;
  /** First unit within its slab's buffers. */
  firstUnit: number;
  /** Values written while the state had no place on the device, applied when it gets one. */
  pending?: Record<string, ArrayLike<number>>;
}

/** Options of the WebGPU store. */
export interface WebGpuStoreOptions {
  /** The device (default: the process's, from `webgpuDevice`). */
  device?: GPUDevice;
  /** Largest window, in elements (default: the device's maxStorageBufferBindingSize); tests lower it. */
  maxWindowElements?: number;
}

/** A typed array of `dtype` holding `values`, padded with zeros to `bytes`. */
function hostArray(dtype: Dtype, values: ArrayLike<number>, bytes: number): StateBuffer {
  const out = new DTYPES[dtype].array(bytes / DTYPES[dtype].bytes);
  out.set(values);
  return out;
}

/**
 * The WebGPU device that backend 'webgpu' runs on by default (Dawn in Node, `navigator.gpu` in
 * browsers), requested once per process: make {@link GpuParam} buffers on it. Rejects, saying how to
 * get an adapter, where there is none.
 */
export function getWebGpuDevice(): Promise<GpuDeviceLike> {
  return webgpuDevice('getWebGpuDevice()');
}

export class WebGpuStore implements StateStore {
  /** GPU buffers alive now: slabs, uniforms and staging buffers. */
  liveBuffers = 0;
  /** Dispatches the last step encoded (one per slab window, three phases for StableAdamW). */
  dispatchesLastStep = 0;
  private kernels?: Kernels;
  private staging?: GPUBuffer;
  /** The plain buffer that views of shared memory are copied through on their way up (writeHost). */
  private hostStaging?: Uint8Array<ArrayBuffer>;
  private readonly states = new Set<GpuState>();
  private readonly slabs = new Set<Slab>();
  /** Set when a state was added or released: the next step lays the slabs out again. */
  private layoutStale = true;

  constructor(private readonly owner: string, private readonly options: WebGpuStoreOptions = {}) {}

  get description(): string {
    return this.kernels ? `webgpu (${describeDevice(this.kernels.device)}, state resident on the device)` : 'webgpu (device not yet requested: it is at the first step)';
  }

  create(param: AnyParam, plan: TensorPlan, kernel: RegisteredKernel = WGSL_KERNELS[plan.family]): GpuState {
    const state: GpuState = { plan, kernel: kernel as WgslKernel, length: paramLength(param), gpuParam: isGpuParam(param) ? param : undefined, firstUnit: 0 };
    this.states.add(state);
    this.layoutStale = true;
    return state;
  }

  read(): Record<string, StateBuffer> {
    throw new Error(`${this.owner}: stateDict(): with backend 'webgpu' the state lives on the GPU; read it with await opt.stateDictAsync()`);
  }

  async readAsync(stored: StoredState): Promise<Record<string, StateBuffer>> {
    const { device } = await this.ready();
    this.layout();
    const state = stored as GpuState;
    const slots = state.plan.buffers.map((spec) => this.slot(state, spec));
    const total = slots.reduce((sum, s) => sum + s.size, 0);
    const staging = this.buffer(device, Math.max(4, total), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    let offset = 0;
    for (const s of slots) {
      if (s.size > 0) encoder.copyBufferToBuffer(s.buffer, s.offset, staging, offset, s.size);
      offset += s.size;
    }
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    this.destroyBuffer(staging);
    const out: Record<string, StateBuffer> = {};
    offset = 0;
    state.plan.buffers.forEach((spec, k) => {
      out[spec.name] = new DTYPES[spec.dtype].array(bytes, offset, spec.length);
      offset += slots[k]!.size;
    });
    return out;
  }

  write(stored: StoredState, values: Record<string, ArrayLike<number>>): void {
    const state = stored as GpuState;
    if (!state.slab) {
      state.pending = values;
      return;
    }
    for (const spec of state.plan.buffers) {
      const { buffer, offset, size } = this.slot(state, spec);
      // hostArray makes a fresh (unshared) ArrayBuffer.
      if (size > 0) this.kernels!.device.queue.writeBuffer(buffer, offset, hostArray(spec.dtype, values[spec.name]!, size) as Uint8Array<ArrayBuffer>);
    }
  }

  release(stored: StoredState): void {
    const state = stored as GpuState;
    this.states.delete(state);
    this.layoutStale = true;
  }

  async run(work: readonly StoreWork[]): Promise<void> {
    const { device } = await this.ready();
    this.layout();
    const byState = new Map(work.map((w) => [w.state as GpuState, w]));
    const active = [...this.slabs].filter((slab) => slab.members.some((m) => byState.has(m)));
    const downloads = downloadRuns(active, byState);
    const stagingBytes = Math.max(4, downloads.reduce((total, run) => total + run.size, 0));
    if (downloads.length > 0 && (!this.staging || this.staging.size < stagingBytes)) {
      if (this.staging) this.destroyBuffer(this.staging);
      this.staging = this.buffer(device, stagingBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    }
    // Bind GpuParams' buffers first: a buffer that cannot be bound rejects before anything is queued.
    // The buffers are those the step read and validated (w.param), not the caller's param read again.
    for (const slab of active) if (!slab.param) await this.bindCallerBuffers(slab, byState.get(slab.members[0]!)!.param as GpuParam);
    const encoder = device.createCommandEncoder();
    this.encodeStep(encoder, active, byState);
    for (const run of downloads) encoder.copyBufferToBuffer(run.buffer, run.from, this.staging!, run.stagingOffset, run.size);
    device.queue.submit([encoder.finish()]);
    if (downloads.length === 0) {
      await device.queue.onSubmittedWorkDone();
      return;
    }
    await this.staging!.mapAsync(GPUMapMode.READ, 0, stagingBytes);
    const updated = this.staging!.getMappedRange(0, stagingBytes);
    for (const run of downloads) {
      for (const { param, offset } of run.params) {
        const data = param.data as Float32Array | Uint16Array;
        data.set(new (data.constructor as Float32ArrayConstructor)(updated, run.stagingOffset + offset, data.length));
      }
    }
    this.staging!.unmap();
  }

  /**
   * Make the kernels on the store's `device` option synchronously, for {@link runSync}. A kernel the
   * device cannot compile shows as a validation error of the device (catch it with an error scope).
   */
  prepareSync(): void {
    const device = this.options.device;
    if (!device) throw new Error(`${this.owner}: prepareSync() needs the store's device option`);
    if (this.kernels) return;
    this.kernels = kernelsOn(device, compilePipelinesSync(device));
    kernelsByDevice.set(device, Promise.resolve(this.kernels));
  }

  /**
   * The step of {@link run}, encoded and submitted before it returns, for a caller that cannot await
   * (adamw-lab/tfjs, whose update must be on the queue before tfjs's next forward pass): GpuParams
   * only, so there is nothing to download, after {@link prepareSync}. `before` and `after` encode
   * copies around the dispatches, into the same command buffer. Binding errors show as device validation errors.
   */
  runSync(work: readonly StoreWork[], before?: (encoder: GPUCommandEncoder) => void, after?: (encoder: GPUCommandEncoder) => void): void {
    if (!this.kernels) throw new Error(`${this.owner}: runSync() before prepareSync()`);
    const { device } = this.kernels;
    this.layout();
    const byState = new Map(work.map((w) => [w.state as GpuState, w]));
    const active = [...this.slabs].filter((slab) => slab.members.some((m) => byState.has(m)));
    for (const slab of active) {
      if (slab.param) throw new Error(`${this.owner}: runSync() takes GpuParams only (host arrays are downloaded after the step, which cannot be waited for here)`);
      this.bindNow(slab, byState.get(slab.members[0]!)!.param as GpuParam);
    }
    const encoder = device.createCommandEncoder();
    before?.(encoder);
    this.encodeStep(encoder, active, byState);
    after?.(encoder);
    device.queue.submit([encoder.finish()]);
  }

  /** Fill a GpuParam's grad buffer with zeros (`zeroGrad()`). */
  zeroBuffer(buffer: GPUBuffer): void {
    const device = this.kernels?.device ?? this.options.device ?? settledWebgpuDevice();
    if (!device) throw new Error(`${this.owner}: zeroGrad(): the WebGPU device is not ready yet; await getWebGpuDevice() first`);
    if ((buffer.usage & GPUBufferUsage.COPY_DST) === 0) {
      throw new Error(`${this.owner}: zeroGrad(): a grad GPUBuffer lacks COPY_DST usage, so it cannot be cleared; create it with GPUBufferUsage.COPY_DST, or zero it yourself`);
    }
    const encoder = device.createCommandEncoder();
    encoder.clearBuffer(buffer);
    device.queue.submit([encoder.finish()]);
  }

  close(): void {
    this.states.clear();
    for (const slab of this.slabs) this.destroySlab(slab);
    this.slabs.clear();
    if (this.staging) this.destroyBuffer(this.staging);
    this.staging = undefined;
    this.hostStaging = undefined;
  }

  private async ready(): Promise<Kernels> {
    this.kernels ??= await deviceKernels(this.owner, this.options.device ?? (await webgpuDevice(this.owner)));
    return this.kernels;
  }

  /** Where a state buffer of a placed state lives: buffer, byte offset and word-padded size. */
  private slot(state: GpuState, spec: BufferSpec): { buffer: GPUBuffer; offset: number; size: number } {
    const slab = state.slab!;
    if (isPerBlock(state.plan, spec)) {
      // Per-block buffers lie one after another in the reduction buffer, `units` words each.
      const first = state.plan.buffers.filter((b) => isPerBlock(state.plan, b)).indexOf(spec) * slab.units + state.firstUnit;
      return { buffer: slab.state[spec.name]!, offset: first * 4, size: spec.length * 4 };
    }
    return { buffer: slab.state[spec.name]!, offset: state.firstUnit * UNIT * DTYPES[spec.dtype].bytes, size: wordBytes(spec.dtype, spec.length) };
  }

  /**
   * Lay the states out in slabs again when states were added or released: host-array states grouped
   * by plan, each GpuParam in a slab of its own. Placed states move by GPU copies; pending values
   * are written; the old slabs are freed.
   */
  private layout(): void {
    if (!this.layoutStale) return;
    this.layoutStale = false;
    const { device } = this.kernels!;
    const groups = new Map<string, GpuState[]>();
    const kept = new Set<Slab>();
    for (const state of this.states) {
      if (state.gpuParam && state.slab && state.slab.members[0] === state) {
        kept.add(state.slab);
        continue;
      }
      const key = state.gpuParam ? `gpu param ${groups.size}` : slabKey(state.plan);
      const members = groups.get(key);
      if (members) members.push(state);
      else groups.set(key, [state]);
    }
    const encoder = device.createCommandEncoder();
    // Where each placed state was, before makeSlab gives it its new place.
    const moved = [...groups.values()].flat().filter((state) => state.slab)
      .map((state) => ({ state, from: state.slab!, firstUnit: state.firstUnit }));
    const made = [...groups.values()].map((members) => this.makeSlab(members));
    // Copy each moved state from its old place to its new one.
    for (const { state, from, firstUnit } of moved) {
      for (const spec of state.plan.buffers) {
        const to = this.slot(state, spec);
        const was = this.slot({ ...state, slab: from, firstUnit }, spec);
        if (to.size > 0) encoder.copyBufferToBuffer(was.buffer, was.offset, to.buffer, to.offset, to.size);
      }
    }
    device.queue.submit([encoder.finish()]);
    for (const slab of this.slabs) if (!kept.has(slab)) this.destroySlab(slab);
    this.slabs.clear();
    for (const slab of [...kept, ...made]) this.slabs.add(slab);
    for (const state of this.states) {
      if (state.pending) {
        this.write(state, state.pending);
        state.pending = undefined;
      }
    }
  }

  /** A slab for `members` (in layout order), its buffers zeroed, its lookup written. */
  private makeSlab(members: GpuState[]): Slab {
    const { device, tables } = this.kernels!;
    const { plan, kernel } = members[0]!;
    const owned: GPUBuffer[] = [];
    const make = (bytes: number, label: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC): GPUBuffer => {
      const b = this.buffer(device, Math.max(16, bytes), usage, label);
      owned.push(b);
      return b;
    };
    const units = members.reduce((sum, member) => sum + unitsOf(member.length), 0);
    const elements = units * UNIT;
    const state: Record<string, GPUBuffer> = {};
    let reduction: GPUBuffer | undefined;
    const absmaxWords = kernel.absmaxWords?.(units);
    if (absmaxWords !== undefined) {
      // absmax1, absmax2, then StableAdamW's per-unit sums and per-segment η_t.
      reduction = make(4 * (absmaxWords + units + members.length), 'absmax');
      for (const spec of plan.buffers) if (isPerBlock(plan, spec)) state[spec.name] = reduction;
    } else if (plan.stable) {
      reduction = make(4 * (units + members.length), 'reduction');
    }
    for (const spec of plan.buffers) state[spec.name] ??= make(elements * DTYPES[spec.dtype].bytes, spec.name);
    const lookupWords = new Uint32Array(units + (kernel.tables ? TABLE_WORDS : 0));
    let firstUnit = 0;
    members.forEach((member, segment) => {
      lookupWords.fill(segment, firstUnit, firstUnit + unitsOf(member.length));
      member.firstUnit = firstUnit;
      firstUnit += unitsOf(member.length);
    });
    if (kernel.tables) lookupWords.set(tables, units);
    const lookup = make(lookupWords.byteLength, 'lookup');
    device.queue.writeBuffer(lookup, 0, lookupWords);
    const writtenEachStep = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const slab: Slab = {
      kernel, plan, members, units, owned, state, reduction,
      segments: make(members.length * kernel.segmentBytes, 'segments', writtenEachStep),
      rmsSegments: plan.stable ? make(members.length * segmentBytes('stableRms'), 'rms segments', writtenEachStep) : undefined,
      lookup,
      windows: [],
      dispatches: [],
      windowUniforms: [],
    };
    const limit = this.options.maxWindowElements ?? Math.floor(device.limits.maxStorageBufferBindingSize / 4);
    const windowUnits = Math.max(1, Math.floor(limit / UNIT));
    for (let first = 0; first < units; first += windowUnits) slab.windows.push({ firstUnit: first, units: Math.min(windowUnits, units - first) });
    for (const member of members) member.slab = slab;
    if (!members[0]!.gpuParam) {
      slab.param = make(elements * DTYPES[plan.paramDtype].bytes, 'param');
      // Room for fp32 grads; a bf16 grad goes at the start of its slot in each window (gradQuad in common.wgsl).
      slab.grad = make(elements * 4, 'grad');
      this.makeDispatches(slab, { buffer: slab.param, dtype: plan.paramDtype }, { buffer: slab.grad, dtype: 'fp32' });
    }
    return slab;
  }

  /** Bind a GpuParam's buffers, making the dispatches again when the caller swapped them. */
  private async bindCallerBuffers(slab: Slab, param: GpuParam): Promise<void> {
    if (slab.boundTo?.data === param.data && slab.boundTo.grad === param.grad) return;
    const { device } = this.kernels!;
    device.pushErrorScope('validation');
    this.bindNow(slab, param);
    // Caught here, where the message can name the param: e.g. a buffer of another device.
    const error = await device.popErrorScope();
    if (error) {
      slab.boundTo = undefined;
      throw new Error(`${this.owner}: param '${param.name ?? '(unnamed)'}': its GPUBuffers cannot be bound (${error.message}); ` +
        "they must be STORAGE buffers of the optimizer's device (getWebGpuDevice(), or the device option)");
    }
  }

  /** Make the slab's dispatches over a GpuParam's buffers, unless they are bound already. */
  private bindNow(slab: Slab, param: GpuParam): void {
    if (slab.boundTo?.data === param.data && slab.boundTo.grad === param.grad) return;
    this.makeDispatches(slab, { buffer: param.data as GPUBuffer, dtype: slab.plan.paramDtype },
      { buffer: param.grad as GPUBuffer, dtype: gpuGradDtype(param) === 'bf16' ? 'bf16' : 'fp32' });
    slab.boundTo = { data: param.data, grad: param.grad };
  }

  /** One compute pass of every active slab's dispatches, after writing their segments (and uploading host slabs' params and grads). */
  private encodeStep(encoder: GPUCommandEncoder, active: readonly Slab[], byState: Map<GpuState, StoreWork>): void {
    const pass = encoder.beginComputePass();
    this.dispatchesLastStep = 0;
    for (const slab of active) {
      this.dispatchesLastStep += slab.dispatches.length;
      this.writeSegments(slab, byState);
      if (slab.param) this.upload(slab, byState);
      for (const d of slab.dispatches) {
        pass.setPipeline(this.kernels!.pipelines[d.kernel]);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.x, d.y);
      }
    }
    pass.end();
  }

  /** The slab's dispatches over `param` and `grad`: per window, in StableAdamW's three phases when stable. */
  private makeDispatches(slab: Slab, param: { buffer: GPUBuffer; dtype: Dtype }, grad: { buffer: GPUBuffer; dtype: Dtype }): void {
    const { device, pipelines, placeholders } = this.kernels!;
    const { state, kernel } = slab;
    for (const b of slab.windowUniforms.splice(0)) this.destroyBuffer(b);
    const grid = (workgroups: number): { x: number; y: number } => {
      const x = Math.min(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
      return { x, y: Math.ceil(workgroups / x) };
    };
    /** The part of `buffer` (elements of `dtype`) that a window binds; a caller's buffer may end before the window. */
    const range = (buffer: GPUBuffer, dtype: Dtype, w: { firstUnit: number; units: number }): GPUBufferBinding => {
      const offset = w.firstUnit * UNIT * DTYPES[dtype].bytes;
      return { buffer, offset, size: Math.min(w.units * UNIT * DTYPES[dtype].bytes, Math.floor((buffer.size - offset) / 4) * 4) };
    };
    const phases = slab.plan.stable ? [1, 2] : [0];
    const window = (w: { firstUnit: number; units: number }, mode: number): { uniform: GPUBuffer; x: number; y: number } => {
      const { x, y } = grid(w.units);
      const partialsAt = kernel.absmaxWords?.(slab.units) ?? 0;
      const values = packWindow({ firstUnit: w.firstUnit, units: w.units, rowLength: x, mode, slabUnits: slab.units, partialsAt, lrAt: partialsAt + slab.units });
      const uniform = this.buffer(device, values.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      slab.windowUniforms.push(uniform);
      device.queue.writeBuffer(uniform, 0, values);
      return { uniform, x, y };
    };
    const dispatches: Slab['dispatches'] = [];
    const dispatch = (name: KernelName, w: { firstUnit: number; units: number }, mode: number, resources: GPUBindingResource[]): void => {
      const { uniform, x, y } = window(w, mode);
      const bindGroup = device.createBindGroup({
        layout: pipelines[name].getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: uniform } }, ...resources.map((resource, i) => ({ binding: i + 1, resource }))],
      });
      dispatches.push({ kernel: name, bindGroup, x, y });
    };
    const optional = (name: string, dtype: Dtype, placeholder: GPUBuffer, w: { firstUnit: number; units: number }): GPUBindingResource =>
      (state[name] ? range(state[name], dtype, w) : { buffer: placeholder });
    for (const mode of phases) {
      if (mode === 2) dispatch('stableRms', { firstUnit: 0, units: slab.members.length }, 0, [{ buffer: slab.reduction! }, { buffer: slab.rmsSegments! }]);
      for (const w of slab.windows) {
        const p = range(param.buffer, param.dtype, w);
        const g = range(grad.buffer, grad.dtype, w);
        const bound = kernel.bindings.map((b): GPUBindingResource =>
          'state' in b ? range(state[b.state]!, bufferDtype(slab.plan, b.state), w)
            : 'optionalState' in b ? optional(b.optionalState, bufferDtype(slab.plan, b.optionalState), placeholders[b.placeholder], w)
              : { buffer: slab.reduction ?? placeholders.reduction });
        dispatch(kernel.pipeline, w, mode, [p, g, ...bound, { buffer: slab.lookup }, { buffer: slab.segments }]);
      }
    }
    slab.dispatches = dispatches;
  }

  /** Every segment's scalars for this step (inactive where the param has no grad), in one write each. */
  private writeSegments(slab: Slab, byState: Map<GpuState, StoreWork>): void {
    const { device } = this.kernels!;
    const { plan, kernel, members } = slab;
    const bytes = new ArrayBuffer(members.length * kernel.segmentBytes);
    const view = new DataView(bytes);
    const rms = plan.stable ? new DataView(new ArrayBuffer(members.length * segmentBytes('stableRms'))) : undefined;
    members.forEach((member, k) => {
      const w = byState.get(member);
      const common = { firstUnit: member.firstUnit, count: w?.elements ?? member.length, stepping: w ? 1 : 0 };
      const hp = w?.hp ?? { lr: 0, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' as const };
      const step = w?.step ?? 1;
      // 1: a host bf16 grad, uploaded to the start of its fp32 slot; 2: a caller's packed bf16 buffer.
      const gradBf16 = !w ? 0 : member.gpuParam ? (gpuGradDtype(w.param as GpuParam) === 'bf16' ? 2 : 0) : w.param.grad instanceof Uint16Array ? 1 : 0;
      kernel.writeSegment({ hp, step, plan, common, gradBf16 }, view, k * kernel.segmentBytes);
      if (rms) packSegment('stableRms', { ...common, units: unitsOf(common.count), lr: hp.lr }, rms, k * segmentBytes('stableRms'));
    });
    device.queue.writeBuffer(slab.segments, 0, bytes);
    if (rms) device.queue.writeBuffer(slab.rmsSegments!, 0, rms.buffer);
  }

  /** Write the stepping members' params and grads into the slab. */
  private upload(slab: Slab, byState: Map<GpuState, StoreWork>): void {
    const { queue } = this.kernels!.device;
    const paramBytes = DTYPES[slab.plan.paramDtype].bytes;
    for (const member of slab.members) {
      const w = byState.get(member);
      if (!w) continue;
      const start = member.firstUnit * UNIT;
      const data = w.param.data as Float32Array | Uint16Array;
      if (data.byteLength % 4 === 0) this.writeHost(slab.param!, start * paramBytes, data);
      else queue.writeBuffer(slab.param!, start * paramBytes, hostArray('bf16', data, wordBytes('bf16', data.length)) as Uint16Array<ArrayBuffer>);
      const grad = w.param.grad as Float32Array | Uint16Array;
      if (grad instanceof Float32Array) {
        this.writeHost(slab.grad!, start * 4, grad);
        continue;
      }
      // A bf16 grad goes piece by piece: each window's part at the start of its fp32 slot there.
      for (const win of slab.windows) {
        const from = Math.max(start, win.firstUnit * UNIT);
        const to = Math.min(start + member.length, (win.firstUnit + win.units) * UNIT);
        if (from >= to) continue;
        const bits = hostArray('bf16', grad.subarray(from - start, to - start), wordBytes('bf16', to - from)) as Uint16Array<ArrayBuffer>;
        queue.writeBuffer(slab.grad!, from * 4, bits);
      }
    }
  }

  /**
   * `queue.writeBuffer` of a host array of whole 4-byte words. Dawn's writeBuffer crashes the process
   * (SIGSEGV) on a view of a SharedArrayBuffer, such as createParam's views of adamw-lab's WebAssembly
   * memory, so those go through a reused plain buffer, in pieces of at most {@link HOST_STAGING_BYTES};
   * plain arrays are written as they are.
   */
  private writeHost(buffer: GPUBuffer, offset: number, source: Float32Array | Uint16Array): void {
    const { queue } = this.kernels!.device;
    if (source.buffer instanceof ArrayBuffer) {
      queue.writeBuffer(buffer, offset, source as Float32Array<ArrayBuffer>);
      return;
    }
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    const size = Math.min(HOST_STAGING_BYTES, bytes.length);
    if (!this.hostStaging || this.hostStaging.length < size) this.hostStaging = new Uint8Array(size);
    // writeBuffer copies what it is given before it returns, so one staging buffer serves every piece.
    for (let at = 0; at < bytes.length; at += this.hostStaging.length) {
      const piece = bytes.subarray(at, at + this.hostStaging.length);
      this.hostStaging.set(piece);
      queue.writeBuffer(buffer, offset + at, this.hostStaging, 0, piece.length);
    }
  }

  private destroySlab(slab: Slab): void {
    for (const b of [...slab.owned.splice(0), ...slab.windowUniforms.splice(0)]) this.destroyBuffer(b);
  }

  private buffer(device: GPUDevice, size: number, usage: number, label?: string): GPUBuffer {
    this.liveBuffers++;
    return device.createBuffer({ size: Math.ceil(size / 4) * 4, usage, label });
  }

  private destroyBuffer(buffer: GPUBuffer): void {
    buffer.destroy();
    this.liveBuffers--;
  }
}
