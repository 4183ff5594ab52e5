/**
 * `backend: 'cpu'`: the fused WebAssembly SIMD kernel of kernels/wasm/adam.ts.
 *
 * Tensors whose param, grad and state all live in one arena (see arena.ts and `createParam`) are
 * updated in place and split across worker threads when the step is large enough to pay for them.
 * Other tensors (plain typed arrays) are staged through cache-sized chunks of the arena: pipelined with
 * worker threads when there are some (pipeline.ts), else copied and updated chunk by chunk on the
 * calling thread.
 * @module
 */
import { adamStepScalars } from '../../rules/adam.js';
import { adam8bitStepScalars, BLOCK_SIZE } from '../../rules/blockwise8bit.js';
import { debiasedStepScalars, stabilizedLr } from '../../rules/debiased.js';
import { KERNEL_DECLARATIONS } from '../../core/kernel-declarations.js';
import { DTYPES, type Dtype } from '../../core/dtypes.js';
import type { BufferOf, StateBuffer, UpdateFamily } from '../../core/variants.js';
import { byFamily, taskKernel, type Backend, type BackendRegistry, type UpdateTask } from '../backend.js';
import { runWithRules } from '../rule-runner.js';
import { quantizationTables, type QuantizationTable } from '../quantization-tables.js';
import { allArenas, allocateViewsInArena, arenaOf, releaseFromArena, type Arena } from './arena.js';
import { chunkRanges, pushJob, runJobs, type KernelJob, type RangeTask } from './jobs.js';
import { callAdam8bitRmsSum, callDebiasedMomentsRms, callDebiasedUpdate, type WasmKernelFunctions } from './kernel-abi.generated.js';
import { kernelModule } from './kernel.js';
import { runPipelined } from './pipeline.js';
import { hardwareThreads, ThreadPool } from './threads.js';

/** Elements per staged chunk: p and g scratch (2 × 64 KiB) stay in L2 while the kernel runs. */
const STAGE_CHUNK = 16384;
/** Below this many elements per thread, posting to a worker costs more than it saves. */
const MIN_ELEMENTS_PER_THREAD = 1 << 17;
/** Elements per pipelined chunk: p and g slots of 256 KiB each, small enough for L2, large enough that a chunk's hand-over is cheap. */
const PIPELINE_CHUNK = 1 << 16;
/** Elements per part of a chunk, the unit a thread claims (pipeline.ts). */
const PIPELINE_PART = 1 << 14;
/** Ring slots of the pipeline. */
const PIPELINE_SLOTS = 4;
/** 8-bit scratch regions: one per thread, and one per pipeline part that may be in flight. */
const SCRATCH_REGIONS = (threads: number): number => Math.max(threads, PIPELINE_SLOTS * (PIPELINE_CHUNK / PIPELINE_PART));
/**
 * Elements per job when threads share a step: the threads claim jobs one at a time, so a thread that
 * starts later or runs slower takes fewer. A claim (an atomic add and a call) costs well under a
 * microsecond; a job of 64K elements takes tens of microseconds (fp32) or more (8-bit).
 */
const THREAD_CHUNK = 1 << 16;
/** One scratch region of the 8-bit kernel (a thread or a pipeline part uses one at a time): one block's m and v. */
const SCRATCH_BYTES = 2 * BLOCK_SIZE * 4;

/** Byte address of element `start` of a task's buffer `name` (a per-block buffer holds one value per 256 elements); 0 if absent. */
type Addresses = (name: string, start: number) => number;

/** Each family's per-block buffers, from the declarations. */
const PER_BLOCK = Object.fromEntries(Object.values(KERNEL_DECLARATIONS).map((d) => [d.family, d.buffers.filter((b) => b.per === 'block').map((b) => b.name)])) as Record<UpdateFamily, string[]>;

function addressesOf(task: UpdateTask): Addresses {
  const perBlock = PER_BLOCK[task.plan.family];
  return (name, start) => {
    const b = task.buffers[name];
    if (!b) return 0;
    return b.byteOffset + (perBlock.includes(name) ? (start / BLOCK_SIZE) * 4 : start * b.BYTES_PER_ELEMENT);
  };
}

/** What a kernel call needs besides the task: its buffers' addresses, and the 8-bit tables and scratch in the arena. */
interface CallContext {
  at: Addresses;
  tables: () => { signed: number; unsigned: number; scratch: number };
}

/**
 * One family's WebAssembly kernel, as backend 'cpu' registers it: the call that updates a range, and
 * for StableAdamW the first pass (Σ g²/max(v̂, ε²) over a range) and, where that pass already updated
 * the moments, the param update that remains.
 */
interface WasmKernel {
  /**
   * The job that updates elements [start, start + count) of `task`, its param and grad at `p` and `g`
   * (in place, or in a staging buffer), with 8-bit scratch region `scratch` (a pipeline part's; resident
   * jobs use region 0 and runJobs moves it to the running thread's).
   */
  call: (task: UpdateTask, range: KernelRange, c: CallContext) => KernelJob;
  rmsSum?: (k: WasmKernelFunctions, task: UpdateTask, g: number, start: number, count: number, c: CallContext) => number;
  updateAfterRms?: (k: WasmKernelFunctions, task: UpdateTask, p: number, start: number, count: number, lr: number, c: CallContext) => void;
}

const gradBf16Of = (task: UpdateTask): number => (task.grad instanceof Uint16Array ? 1 : 0);
const bf16Flag = (dtype: 'fp32' | 'bf16'): number => (dtype === 'bf16' ? 1 : 0);

/**
 * Each family's kernel. Arguments are given by the names the AssemblyScript kernels declare
 * (kernel-abi.generated.ts): a missing or misspelt one is a type error, and their order is the
 * generated packer's business.
 */
const WASM_KERNELS: Record<UpdateFamily, WasmKernel> = {
  adam: {
    call: ({ hp, step }, { p, g, start, count: n }, { at }) => {
      const s = adamStepScalars(hp, step);
      return {
        kernel: 'adamStepF32',
        args: {
          p, g, m: at('exp_avg', start), v: at('exp_avg_sq', start), vmax: at('max_exp_avg_sq', start), n, amsgrad: hp.amsgrad ? 1 : 0,
          gradSign: s.gradSign, decay: s.decay, l2: s.l2, oneMinusBeta1: s.oneMinusBeta1, beta2: s.beta2, oneMinusBeta2: s.oneMinusBeta2,
          invSqrtBc2: s.invSqrtBiasCorrection2, eps: s.eps, negStepSize: s.negStepSize,
        },
      };
    },
  },
  debiased: {
    call: (task, { p, g, start, count: n, lr = task.hp.lr }, { at }) => {
      const { plan, hp, step } = task;
      const s = debiasedStepScalars(hp, step, lr);
      return {
        kernel: 'debiasedStep',
        args: {
          p, g, m: at('exp_avg', start), v: at('exp_avg_sq', start), c: at('kahan_comp', start), n,
          paramBf16: bf16Flag(plan.paramDtype), gradBf16: gradBf16Of(task), momentsBf16: bf16Flag(plan.momentDtype), kahan: plan.kahan ? 1 : 0,
          gradSign: s.gradSign, oneMinusBeta1Hat: s.oneMinusBeta1Hat, beta2Hat: s.beta2Hat, oneMinusBeta2Hat: s.oneMinusBeta2Hat,
          decay: s.decay, negStepSize: s.negStepSize, eps: s.eps,
        },
      };
    },
    rmsSum: (k, task, g, start, count, { at }) => {
      const { plan, hp, step } = task;
      const o = debiasedStepScalars(hp, step);
      return callDebiasedMomentsRms(k, {
        g, m: at('exp_avg', start), v: at('exp_avg_sq', start), n: count, gradBf16: gradBf16Of(task), momentsBf16: bf16Flag(plan.momentDtype), gradSign: o.gradSign,
        oneMinusBeta1Hat: o.oneMinusBeta1Hat, beta2Hat: o.beta2Hat, oneMinusBeta2Hat: o.oneMinusBeta2Hat, epsSquared: hp.eps * hp.eps,
      });
    },
    // The moments were updated by the first pass: only the param update remains.
    updateAfterRms: (k, { plan, hp, step }, p, start, count, lr, { at }) => {
      const s = debiasedStepScalars(hp, step, lr);
      callDebiasedUpdate(k, {
        p, m: at('exp_avg', start), v: at('exp_avg_sq', start), c: at('kahan_comp', start), n: count,
        paramBf16: bf16Flag(plan.paramDtype), momentsBf16: bf16Flag(plan.momentDtype), kahan: plan.kahan ? 1 : 0, decay: s.decay, negStepSize: s.negStepSize, eps: s.eps,
      });
    },
  },
  blockwise8bit: {
    call: (task, { p, g, start, count: n, scratch, lr = task.hp.lr }, { at, tables }) => {
      const { plan, hp, step } = task;
      const t = tables();
      const s = adam8bitStepScalars(hp, step, lr);
      return {
        kernel: 'adam8bitStep',
        args: {
          p, g, codes1: at('state1', start), codes2: at('state2', start), absmax1: at('absmax1', start), absmax2: at('absmax2', start),
          shift: at('shift', start), n, signedTable: t.signed, unsignedTable: t.unsigned,
          paramBf16: bf16Flag(plan.paramDtype), gradBf16: gradBf16Of(task),
          gradSign: s.gradSign, beta1: s.beta1, oneMinusBeta1: s.oneMinusBeta1, beta2: s.beta2, oneMinusBeta2: s.oneMinusBeta2,
          decay: s.decay, negStepSize: s.negStepSize, invSqrtBc2: s.invSqrtBiasCorrection2, eps: s.eps,
          scratch: t.scratch + scratch * SCRATCH_BYTES,
        },
      };
    },
    rmsSum: (k, task, g, start, count, { at, tables }) => {
      const { hp, step } = task;
      const b = adam8bitStepScalars(hp, step);
      return callAdam8bitRmsSum(k, {
        g, codes2: at('state2', start), absmax2: at('absmax2', start), n: count, unsignedTable: tables().unsigned, gradBf16: gradBf16Of(task),
        gradSign: b.gradSign, beta2: b.beta2, oneMinusBeta2: b.oneMinusBeta2, biasCorrection2: b.biasCorrection2, epsSquared: hp.eps * hp.eps,
      });
    },
  },
};

const wasmKernelOf = byFamily(WASM_KERNELS);

/** Backend 'cpu' and its kernels: one WebAssembly kernel per family serves every variant of it. */
export function registerCpuBackend(registry: BackendRegistry): void {
  registry.registerBackend('cpu', { deviceResidentState: false }, (_owner, options) => new WasmBackend({ threads: options.threads }));
  registry.registerVariants('cpu', (variant) => WASM_KERNELS[variant.family]);
}

let sharedPool: ThreadPool | undefined;

/** Options of the CPU backend. */
export interface WasmBackendOptions {
  /** Threads to use, the calling thread included (default: all hardware threads; 1 disables workers). */
  threads?: number;
}

export class WasmBackend implements Backend {
  readonly threads: number;
  /** Threads the last step ran on (the calling thread included); 0 before the first step. */
  lastStepThreads = 0;
  private readonly stagingBytes = new Map<Arena, Uint8Array>();
  private readonly pipelineBytes = new Map<Arena, Uint8Array>();
  private readonly tablesByArena = new Map<Arena, { signed: number; unsigned: number; scratch: number }>();

  constructor(options: WasmBackendOptions = {}) {
    const available = hardwareThreads();
    this.threads = Math.max(1, Math.min(options.threads ?? available, available));
    kernelModule();
  }

  get description(): string {
    return `cpu (WebAssembly SIMD, up to ${this.threads} thread${this.threads > 1 ? 's' : ''})`;
  }

  allocate<D extends Dtype>(dtype: D, length: number, near?: ArrayBufferView): BufferOf<D> {
    return this.allocateAll([{ dtype, length }], near)[0] as BufferOf<D>;
  }

  allocateAll(specs: ReadonlyArray<{ dtype: Dtype; length: number }>, near?: ArrayBufferView): StateBuffer[] {
    return allocateViewsInArena(specs.map((s) => ({ Type: DTYPES[s.dtype].array as unknown as typeof Uint8Array, length: s.length })), near);
  }

  release(buffer: StateBuffer): void {
    releaseFromArena(buffer);
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    const arenas = allArenas();
    // Staged tasks big enough for the workers go through the pipeline first; the rest run below.
    const pipelined = tasks.filter((task) => !this.residentRangeTask(task, arenas) && this.pipelines(task));
    for (const task of pipelined) await this.pipelinedStep(task, arenas);
    await this.run(pipelined.length > 0 ? tasks.filter((task) => !pipelined.includes(task)) : tasks, this.threads, pipelined.length > 0);
  }

  /**
   * {@link step} on the calling thread alone, done when it returns: for callers that cannot await,
   * such as a TensorFlow.js optimizer's `applyGradients`. Same kernels, so the same bits.
   */
  stepSync(tasks: readonly UpdateTask[]): void {
    void this.run(tasks, 1);
  }

  /**
   * Run `tasks` on up to `maxThreads` threads (`pipelined`: a pipelined step already ran on all of
   * them); returns the workers' promise, or undefined when all ran here.
   */
  private run(tasks: readonly UpdateTask[], maxThreads: number, pipelined = false): Promise<void> | undefined {
    const arenas = allArenas();
    const resident: RangeTask[] = [];
    for (const task of tasks) {
      const rangeTask = this.residentRangeTask(task, arenas);
      if (rangeTask) resident.push(rangeTask);
      else this.callingThreadStep(task);
    }
    const residentElements = resident.reduce((sum, t) => sum + t.length, 0);
    const threads = Math.min(maxThreads, Math.floor(residentElements / MIN_ELEMENTS_PER_THREAD));
    this.lastStepThreads = Math.max(1, threads, pipelined ? this.threads : 1);
    if (resident.length === 0) return undefined;
    const kernels = arenas.map((a) => a.kernel);
    if (threads <= 1) {
      runJobs(kernels, chunkRanges(resident, Infinity));
      return undefined;
    }
    const list = chunkRanges(resident, THREAD_CHUNK);
    const jobs = new Float64Array(new SharedArrayBuffer(list.length * Float64Array.BYTES_PER_ELEMENT));
    jobs.set(list);
    const claimed = new Int32Array(new SharedArrayBuffer(4));
    sharedPool ??= new ThreadPool(kernelModule(), this.threads - 1);
    const workers = sharedPool.run(jobs, threads - 1, SCRATCH_BYTES, claimed, arenas.map((a) => a.memory));
    runJobs(kernels, jobs, 0, claimed);
    return workers;
  }

  /**
   * A task whose param, grad and state all live in one arena, as ranges that any thread can run; or
   * undefined when it must run on the calling thread (staged, or StableAdamW's whole-tensor RMS).
   */
  private residentRangeTask(task: UpdateTask, arenas: readonly Arena[]): RangeTask | undefined {
    const arena = stateArena(task);
    if (!arena || task.plan.stable || arenaOf(task.param) !== arena || arenaOf(task.grad) !== arena) return undefined;
    const arenaIndex = arenas.indexOf(arena);
    const pb = task.param.BYTES_PER_ELEMENT;
    const gb = task.grad.BYTES_PER_ELEMENT;
    const kernel = taskKernel(task, wasmKernelOf);
    const context = this.callContext(task, arena);
    return {
      length: task.param.length,
      encode: (start, end, out) => {
        pushJob(out, arenaIndex, kernel.call(task, {
          p: task.param.byteOffset + start * pb, g: task.grad.byteOffset + start * gb, start, count: end - start, scratch: 0,
        }, context));
      },
    };
  }

  /**
   * Whether a task outside the arena is pipelined: staged (its param or grad is not in the state's
   * shared arena), not StableAdamW (its RMS needs the whole tensor before any param moves), with
   * workers to compute and enough elements to keep them busy.
   */
  private pipelines(task: UpdateTask): boolean {
    const arena = stateArena(task);
    return this.threads > 1 && !!arena && arena.shared && !task.plan.stable && task.param.length >= 2 * MIN_ELEMENTS_PER_THREAD;
  }

  /** A staged task pipelined with the workers (pipeline.ts): this thread copies (and computes when it would wait), the workers compute. */
  private async pipelinedStep(task: UpdateTask, arenas: readonly Arena[]): Promise<void> {
    const arena = stateArena(task)!;
    const arenaIndex = arenas.indexOf(arena);
    const ring = this.pipelineRing(arena);
    const { param, grad } = task;
    const slotBytes = PIPELINE_CHUNK * 8;
    const view = <T extends ArrayBufferView>(like: T, slot: number, half: 0 | 1): T =>
      new (like.constructor as new (b: ArrayBufferLike, o: number, n: number) => T)(ring.buffer, ring.byteOffset + slot * slotBytes + half * PIPELINE_CHUNK * 4, PIPELINE_CHUNK);
    const paramSlots = Array.from({ length: PIPELINE_SLOTS }, (_, slot) => view(param, slot, 0) as unknown as Uint8Array);
    const gradSlots = Array.from({ length: PIPELINE_SLOTS }, (_, slot) => view(grad, slot, 1) as unknown as Uint8Array);
    const paramData = param as unknown as Uint8Array, gradData = grad as unknown as Uint8Array;
    sharedPool ??= new ThreadPool(kernelModule(), this.threads - 1);
    const pool = sharedPool;
    const kernel = taskKernel(task, wasmKernelOf);
    const context = this.callContext(task, arena);
    await runPipelined({
      length: param.length,
      chunk: PIPELINE_CHUNK,
      part: PIPELINE_PART,
      slots: PIPELINE_SLOTS,
      kernels: arenas.map((a) => a.kernel),
      start: (message) => pool.pipeline(message, this.threads - 1, arenas.map((a) => a.memory)),
      stageIn: (slot, start, end) => {
        paramSlots[slot]!.set(paramData.subarray(start, end));
        gradSlots[slot]!.set(gradData.subarray(start, end));
      },
      stageOut: (slot, start, end) => paramData.set(paramSlots[slot]!.subarray(0, end - start), start),
      encode: (slot, start, count, scratch, out) => {
        const offset = start % PIPELINE_CHUNK;
        pushJob(out, arenaIndex, kernel.call(task, {
          p: paramSlots[slot]!.byteOffset + offset * param.BYTES_PER_ELEMENT, g: gradSlots[slot]!.byteOffset + offset * grad.BYTES_PER_ELEMENT,
          start, count, scratch,
        }, context));
      },
    });
  }

  /** The pipeline's ring of slots in `arena`: each a chunk of param (up to fp32) and a chunk of grad. */
  private pipelineRing(arena: Arena): Uint8Array {
    let ring = this.pipelineBytes.get(arena);
    if (!ring) {
      const bytes = PIPELINE_SLOTS * PIPELINE_CHUNK * 8;
      const offset = arena.tryAllocateBytes(bytes);
      if (offset === null) throw new Error('adamw-lab: out of WebAssembly memory for staging buffers');
      ring = new Uint8Array(arena.memory.buffer, offset, bytes);
      this.pipelineBytes.set(arena, ring);
    }
    return ring;
  }

  /** The addresses of `task`'s buffers and the 8-bit tables in `arena`, for a kernel call. */
  private callContext(task: UpdateTask, arena: Arena): CallContext {
    return { at: addressesOf(task), tables: () => this.tablesIn(arena) };
  }

  /**
   * A task on the calling thread: staged chunk by chunk when its param or grad is outside the state's
   * arena (chunks are whole 256-element blocks), and StableAdamW's two passes (the RMS needs every
   * updated v before any param moves).
   */
  private callingThreadStep(task: UpdateTask): void {
    const arena = stateArena(task);
    if (!arena) {
      // Only when an arena filled up between two buffers of one tensor: correct, just not fast.
      runWithRules(task);
      return;
    }
    const { plan, hp } = task;
    const k = arena.kernel;
    const chunks = this.chunker(arena, task);
    const kernel = taskKernel(task, wasmKernelOf);
    const context = this.callContext(task, arena);
    let lr = hp.lr;
    if (plan.stable) {
      // $\eta_t = \eta / \max(1, \sqrt{\operatorname{mean}(g^2/\max(\hat v, \epsilon^2))})$ over the whole tensor
      let sum = 0;
      chunks((_p, g, start, count) => {
        sum += kernel.rmsSum!(k, task, g, start, count, context);
      }, false);
      lr = stabilizedLr(hp.lr, sum, task.param.length).lr;
      const { updateAfterRms } = kernel;
      if (updateAfterRms) {
        chunks((p, _g, start, count) => updateAfterRms(k, task, p, start, count, lr, context), true);
        return;
      }
    }
    const jobs: number[] = [];
    chunks((p, g, start, count) => {
      jobs.length = 0;
      pushJob(jobs, 0, kernel.call(task, { p, g, start, count, scratch: 0, lr }, context));
      runJobs([k], jobs);
    }, true);
  }

  /**
   * Returns a function that calls `body(paramAddress, gradAddress, start, count)` over the tensor:
   * once with the real addresses when param and grad live in `arena`, else once per staged chunk,
   * copying the param back when `writesParam`.
   */
  private chunker(arena: Arena, task: UpdateTask) {
    const { param, grad } = task;
    const inPlace = arenaOf(param) === arena && arenaOf(grad) === arena;
    return (body: (p: number, g: number, start: number, count: number) => void, writesParam: boolean): void => {
      if (inPlace) {
        body(param.byteOffset, grad.byteOffset, 0, param.length);
        return;
      }
      const scratch = this.byteScratch(arena);
      const paramView = new (param.constructor as typeof Uint8Array)(scratch.buffer, scratch.byteOffset, STAGE_CHUNK);
      const gradView = new (grad.constructor as typeof Uint8Array)(scratch.buffer, scratch.byteOffset + STAGE_CHUNK * 4, STAGE_CHUNK);
      for (let start = 0; start < param.length; start += STAGE_CHUNK) {
        const end = Math.min(start + STAGE_CHUNK, param.length);
        paramView.set(param.subarray(start, end));
        gradView.set(grad.subarray(start, end));
        body(paramView.byteOffset, gradView.byteOffset, start, end - start);
        if (writesParam) (param as unknown as Uint8Array).set(paramView.subarray(0, end - start), start);
      }
    };
  }

  /**
   * Give back the staging buffers, quantization tables and scratch this backend took from the arenas.
   * Arenas are shared by every optimizer in the process and never shrink, so without this each
   * optimizer created and destroyed would keep up to ~0.6 MiB of them for the life of the process.
   */
  dispose(): Promise<void> {
    for (const [arena, scratch] of this.stagingBytes) arena.release(scratch);
    for (const [arena, ring] of this.pipelineBytes) arena.release(ring);
    for (const [arena, tables] of this.tablesByArena) {
      for (const offset of [tables.signed, tables.unsigned, tables.scratch]) arena.releaseBytes(offset);
    }
    this.stagingBytes.clear();
    this.pipelineBytes.clear();
    this.tablesByArena.clear();
    return Promise.resolve();
  }

  /** Staging space for one chunk of fp32 (or bf16) param and grad, in `arena`. */
  private byteScratch(arena: Arena): Uint8Array {
    let scratch = this.stagingBytes.get(arena);
    if (!scratch) {
      const offset = arena.tryAllocateBytes(STAGE_CHUNK * 8);
      if (offset === null) throw new Error('adamw-lab: out of WebAssembly memory for staging buffers');
      scratch = new Uint8Array(arena.memory.buffer, offset, STAGE_CHUNK * 8);
      this.stagingBytes.set(arena, scratch);
    }
    return scratch;
  }

  /** The quantization tables of both maps inside `arena` (copied in once per arena), and per-thread scratch. */
  private tablesIn(arena: Arena): { signed: number; unsigned: number; scratch: number } {
    let tables = this.tablesByArena.get(arena);
    if (!tables) {
      const scratch = arena.tryAllocateBytes(SCRATCH_REGIONS(this.threads) * SCRATCH_BYTES);
      if (scratch === null) throw new Error('adamw-lab: out of WebAssembly memory for the 8-bit kernel\'s scratch');
      const built = quantizationTables();
      tables = { signed: writeTable(arena, built.signed), unsigned: writeTable(arena, built.unsigned), scratch };
      this.tablesByArena.set(arena, tables);
    }
    return tables;
  }
}

/** Where a kernel call works: the param and grad addresses of elements [start, start + count), by name. */
interface KernelRange {
  p: number;
  g: number;
  start: number;
  count: number;
  /** The 8-bit kernel's scratch region (0 outside the pipeline). */
  scratch: number;
  /** StableAdamW's scaled learning rate; the group's lr when absent. */
  lr?: number;
}

/** The arena holding all of a task's state buffers, or undefined when they are not together in one. */
function stateArena(task: UpdateTask): Arena | undefined {
  const buffers = Object.values(task.buffers);
  const arena = arenaOf(buffers[0]!);
  return arena && buffers.every((b) => arenaOf(b) === arena) ? arena : undefined;
}

/** Copy a quantization table into an arena, laid out as kernels/wasm/blockwise8bit.ts reads it. */
function writeTable(arena: Arena, table: QuantizationTable): number {
  const k = arena.kernel;
  const bytes = k.QUANTIZATION_TABLE_BYTES.value as number;
  const offset = arena.tryAllocateBytes(bytes);
  if (offset === null) throw new Error('adamw-lab: out of WebAssembly memory for quantization tables');
  const buffer = arena.memory.buffer;
  new Float32Array(buffer, offset, 256).set(table.values);
  new Uint32Array(buffer, offset + (k.QUANTIZATION_ENTRIES_OFFSET.value as number), 65536).set(table.entries);
  return offset;
}
