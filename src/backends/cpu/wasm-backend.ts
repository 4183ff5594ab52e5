/**
 * `backend: 'cpu'`: the fused WebAssembly SIMD kernel of kernels/wasm/adam.ts.
 *
 * Tensors whose param, grad and state all live in one arena (see arena.ts and `createParam`) are
 * updated in place and split across worker threads when the step is large enough to pay for them.
 * Other tensors are staged through a cache-sized scratch buffer on the calling thread.
 * @module
 */
import { adamStepScalars } from '../../rules/adam.js';
import { BLOCK_SIZE } from '../../rules/blockwise8bit.js';
import { debiasedBeta } from '../../rules/optimi.js';
import type { BufferDtype, BufferOf, StateBuffer } from '../../optim/variants.js';
import type { Backend, UpdateTask } from '../backend.js';
import { quantizationMaps, runWithRules } from '../rule-runner.js';
import { buildQuantizationTable, type QuantizationTable } from './quantization-tables.js';
import { allArenas, allocateInArena, allocateViewsInArena, arenaOf, releaseFromArena, type Arena } from './arena.js';
import { JobKind, pushJob, runJobs, splitRanges, type RangeTask } from './jobs.js';
import { kernelModule } from './kernel.js';
import { hardwareThreads, ThreadPool } from './threads.js';

/** Elements per staged chunk: p and g scratch (2 × 64 KiB) stay in L2 while the kernel runs. */
const STAGE_CHUNK = 16384;
/** Below this many elements per thread, posting to a worker costs more than it saves. */
const MIN_ELEMENTS_PER_THREAD = 1 << 17;
/** Per-thread scratch of the 8-bit kernel: one block's m and v. */
const SCRATCH_BYTES = 2 * BLOCK_SIZE * 4;

/** Byte address of element `start` of a task's buffer `name` (absmax buffers hold one value per block); 0 if absent. */
function addressesOf(task: UpdateTask): (name: string, start: number) => number {
  return (name, start) => {
    const b = task.buffers[name];
    if (!b) return 0;
    const perBlock = task.plan.family === 'blockwise8bit' && name.startsWith('absmax');
    return b.byteOffset + (perBlock ? (start / BLOCK_SIZE) * 4 : start * b.BYTES_PER_ELEMENT);
  };
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
  private readonly scratch = new Map<Arena, { param: Float32Array; grad: Float32Array }>();
  private readonly stagingBytes = new Map<Arena, Uint8Array>();
  private readonly tablesByArena = new Map<Arena, { signed: number; unsigned: number; scratch: number }>();

  constructor(options: WasmBackendOptions = {}) {
    const available = hardwareThreads();
    this.threads = Math.max(1, Math.min(options.threads ?? available, available));
    kernelModule();
  }

  get description(): string {
    return `cpu (WebAssembly SIMD, up to ${this.threads} thread${this.threads > 1 ? 's' : ''})`;
  }

  allocate<D extends BufferDtype>(dtype: D, length: number, near?: ArrayBufferView): BufferOf<D> {
    return this.allocateAll([{ dtype, length }], near)[0] as BufferOf<D>;
  }

  allocateAll(specs: ReadonlyArray<{ dtype: BufferDtype; length: number }>, near?: ArrayBufferView): StateBuffer[] {
    const types = { f32: Float32Array, bf16: Uint16Array, u8: Uint8Array } as const;
    return allocateViewsInArena(specs.map((s) => ({ Type: types[s.dtype] as unknown as typeof Uint8Array, length: s.length })), near);
  }

  release(buffer: StateBuffer): void {
    releaseFromArena(buffer);
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    const arenas = allArenas();
    const resident: RangeTask[] = [];
    for (const task of tasks) {
      const rangeTask = this.residentRangeTask(task, arenas);
      if (rangeTask) resident.push(rangeTask);
      else if (task.plan.family === 'adam') this.stagedAdamStep(task);
      else this.variantStep(task);
    }
    const residentElements = resident.reduce((sum, t) => sum + t.length, 0);
    const threads = Math.min(this.threads, Math.floor(residentElements / MIN_ELEMENTS_PER_THREAD));
    this.lastStepThreads = Math.max(1, threads);
    if (resident.length === 0) return;
    const kernels = arenas.map((a) => a.kernel);
    if (threads <= 1) {
      runJobs(kernels, splitRanges(resident, 1)[0]!);
      return;
    }
    const parts = splitRanges(resident, threads).map((list) => Float64Array.from(list));
    sharedPool ??= new ThreadPool(kernelModule(), this.threads - 1);
    const workers = sharedPool.run(parts.slice(1), arenas.map((a) => a.memory));
    runJobs(kernels, parts[0]!);
    await workers;
  }

  /**
   * A task whose param, grad and state all live in one arena, as ranges that any thread can run; or
   * undefined when it must run on the calling thread (staged, or StableAdamW's whole-tensor RMS).
   */
  private residentRangeTask(task: UpdateTask, arenas: readonly Arena[]): RangeTask | undefined {
    const buffers = Object.values(task.buffers);
    const arena = arenaOf(buffers[0]!);
    if (!arena || task.plan.stable || arenaOf(task.param) !== arena || arenaOf(task.grad) !== arena || buffers.some((b) => arenaOf(b) !== arena)) {
      return undefined;
    }
    const arenaIndex = arenas.indexOf(arena);
    const { plan, hp, step } = task;
    const at = addressesOf(task);
    const pb = task.param.BYTES_PER_ELEMENT;
    const gb = task.grad.BYTES_PER_ELEMENT;
    const gradSign = hp.maximize ? -1 : 1;
    if (plan.family === 'adam') {
      const s = adamStepScalars(hp, step);
      return {
        length: task.param.length,
        encode: (start, end, _thread, out) => pushJob(out, JobKind.Adam, arenaIndex, [
          task.param.byteOffset + start * 4, task.grad.byteOffset + start * 4, at('exp_avg', start), at('exp_avg_sq', start), at('max_exp_avg_sq', start),
          end - start, hp.amsgrad ? 1 : 0, s.gradSign, s.decay, s.l2, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.invSqrtBiasCorrection2, s.eps, s.negStepSize,
        ]),
      };
    }
    if (plan.family === 'optimi') {
      const beta1Hat = debiasedBeta(hp.beta1, step);
      const beta2Hat = debiasedBeta(hp.beta2, step);
      const decay = hp.weightDecay !== 0 ? 1 - hp.lr * hp.weightDecay : 1;
      return {
        length: task.param.length,
        encode: (start, end, _thread, out) => pushJob(out, JobKind.Optimi, arenaIndex, [
          task.param.byteOffset + start * pb, task.grad.byteOffset + start * gb, at('exp_avg', start), at('exp_avg_sq', start), at('kahan_comp', start), end - start,
          plan.paramDtype === 'bf16' ? 1 : 0, gb === 2 ? 1 : 0, plan.momentDtype === 'bf16' ? 1 : 0, plan.kahan ? 1 : 0,
          gradSign, 1 - beta1Hat, beta2Hat, 1 - beta2Hat, decay, -hp.lr, hp.eps,
        ]),
      };
    }
    const tables = this.quantizationTables(arena);
    const biasCorrection2 = 1 - hp.beta2 ** step;
    return {
      length: task.param.length,
      encode: (start, end, thread, out) => pushJob(out, JobKind.Adam8bit, arenaIndex, [
        task.param.byteOffset + start * pb, task.grad.byteOffset + start * gb, at('state1', start), at('state2', start), at('absmax1', start), at('absmax2', start),
        at('shift', start), end - start, tables.signed, tables.unsigned, plan.paramDtype === 'bf16' ? 1 : 0, gb === 2 ? 1 : 0,
        gradSign, hp.beta1, 1 - hp.beta1, hp.beta2, 1 - hp.beta2, 1 - hp.lr * hp.weightDecay, hp.lr / (1 - hp.beta1 ** step), 1 / Math.sqrt(biasCorrection2), hp.eps,
        tables.scratch + thread * SCRATCH_BYTES,
      ]),
    };
  }

  /** The fp32 Adam kernel over a param or grad outside the state's arena, staged in chunks. */
  private stagedAdamStep(task: UpdateTask): void {
    const param = task.param as Float32Array;
    const grad = task.grad as Float32Array;
    const expAvg = task.buffers.exp_avg as Float32Array;
    const expAvgSq = task.buffers.exp_avg_sq as Float32Array;
    const maxExpAvgSq = task.buffers.max_exp_avg_sq as Float32Array | undefined;
    this.stagedStep(arenaOf(expAvg)!, param, grad, expAvg, expAvgSq, maxExpAvgSq?.byteOffset ?? 0, task.hp.amsgrad, adamStepScalars(task.hp, task.step));
  }

  /**
   * The optimi and 8-bit families on the calling thread. The state sits in one arena; a param or grad
   * outside it is staged chunk by chunk (chunks are whole 256-element blocks).
   */
  private variantStep(task: UpdateTask): void {
    const buffers = Object.values(task.buffers);
    const arena = arenaOf(buffers[0]!);
    if (!arena || buffers.some((b) => arenaOf(b) !== arena)) {
      // Only when an arena filled up between two buffers of one tensor: correct, just not fast.
      runWithRules(task);
      return;
    }
    const { plan, hp, step } = task;
    const k = arena.kernel;
    const paramBf16 = plan.paramDtype === 'bf16' ? 1 : 0;
    const gradBf16 = task.grad instanceof Uint16Array ? 1 : 0;
    const gradSign = hp.maximize ? -1 : 1;
    const n = task.param.length;
    const chunks = this.chunker(arena, task);
    const at = addressesOf(task);
    if (plan.family === 'optimi') {
      const momentsBf16 = plan.momentDtype === 'bf16' ? 1 : 0;
      const kahan = plan.kahan ? 1 : 0;
      const beta1Hat = debiasedBeta(hp.beta1, step);
      const beta2Hat = debiasedBeta(hp.beta2, step);
      let lr = hp.lr;
      if (plan.stable) {
        let sum = 0;
        chunks((p, g, start, count) => {
          sum += k.optimiMomentsRms(g, at('exp_avg', start), at('exp_avg_sq', start), count, gradBf16, momentsBf16, gradSign, 1 - beta1Hat, beta2Hat, 1 - beta2Hat, hp.eps * hp.eps);
          return p;
        }, false);
        lr = hp.lr / Math.max(1, Math.sqrt(sum / n));
        const decay = hp.weightDecay !== 0 ? 1 - lr * hp.weightDecay : 1;
        chunks((p, _g, start, count) => {
          k.optimiUpdate(p, at('exp_avg', start), at('exp_avg_sq', start), at('kahan_comp', start), count, paramBf16, momentsBf16, kahan, decay, -lr, hp.eps);
          return p;
        }, true);
      } else {
        const decay = hp.weightDecay !== 0 ? 1 - lr * hp.weightDecay : 1;
        chunks((p, g, start, count) => {
          k.optimiStep(p, g, at('exp_avg', start), at('exp_avg_sq', start), at('kahan_comp', start), count, paramBf16, gradBf16, momentsBf16, kahan,
            gradSign, 1 - beta1Hat, beta2Hat, 1 - beta2Hat, decay, -lr, hp.eps);
          return p;
        }, true);
      }
      return;
    }
    const tables = this.quantizationTables(arena);
    const biasCorrection2 = 1 - hp.beta2 ** step;
    let lr = hp.lr;
    if (plan.stable) {
      let sum = 0;
      chunks((p, g, start, count) => {
        sum += k.adam8bitRmsSum(g, at('state2', start), at('absmax2', start), count, tables.unsigned, gradBf16, gradSign, hp.beta2, 1 - hp.beta2, biasCorrection2, hp.eps * hp.eps);
        return p;
      }, false);
      lr = hp.lr / Math.max(1, Math.sqrt(sum / n));
    }
    chunks((p, g, start, count) => {
      k.adam8bitStep(p, g, at('state1', start), at('state2', start), at('absmax1', start), at('absmax2', start), at('shift', start), count,
        tables.signed, tables.unsigned, paramBf16, gradBf16, gradSign, hp.beta1, 1 - hp.beta1, hp.beta2, 1 - hp.beta2,
        1 - lr * hp.weightDecay, lr / (1 - hp.beta1 ** step), 1 / Math.sqrt(biasCorrection2), hp.eps, tables.scratch);
      return p;
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
    return (body: (p: number, g: number, start: number, count: number) => number, writesParam: boolean): void => {
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

  /** The quantization tables of both maps inside `arena` (copied in once per arena), and a block's scratch. */
  private quantizationTables(arena: Arena): { signed: number; unsigned: number; scratch: number } {
    let tables = this.tablesByArena.get(arena);
    if (!tables) {
      const scratch = arena.tryAllocateBytes(this.threads * SCRATCH_BYTES);
      if (scratch === null) throw new Error('adamw-lab: out of WebAssembly memory for the 8-bit kernel\'s scratch');
      tables = { signed: writeTable(arena, signedTable()), unsigned: writeTable(arena, unsignedTable()), scratch };
      this.tablesByArena.set(arena, tables);
    }
    return tables;
  }

  /** Copy param and grad chunk by chunk next to the resident state, run the kernel, copy param back. */
  private stagedStep(
    arena: Arena, param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array,
    maxAddress: number, amsgrad: boolean, scalars: ReturnType<typeof adamStepScalars>,
  ): void {
    let scratch = this.scratch.get(arena);
    if (!scratch) {
      scratch = { param: allocateInArena(STAGE_CHUNK, expAvg), grad: allocateInArena(STAGE_CHUNK, expAvg) };
      if (arenaOf(scratch.param) !== arena || arenaOf(scratch.grad) !== arena) {
        throw new Error('adamw-lab: internal error: staging buffers could not be placed beside the state');
      }
      this.scratch.set(arena, scratch);
    }
    const jobs: number[] = [];
    for (let start = 0; start < param.length; start += STAGE_CHUNK) {
      const end = Math.min(start + STAGE_CHUNK, param.length);
      const n = end - start;
      scratch.param.set(param.subarray(start, end));
      scratch.grad.set(grad.subarray(start, end));
      jobs.length = 0;
      pushJob(jobs, JobKind.Adam, 0, [
        scratch.param.byteOffset, scratch.grad.byteOffset, expAvg.byteOffset + start * 4, expAvgSq.byteOffset + start * 4,
        maxAddress === 0 ? 0 : maxAddress + start * 4, n, amsgrad ? 1 : 0, scalars.gradSign, scalars.decay, scalars.l2,
        scalars.oneMinusBeta1, scalars.beta2, scalars.oneMinusBeta2, scalars.invSqrtBiasCorrection2, scalars.eps, scalars.negStepSize,
      ]);
      runJobs([arena.kernel], jobs);
      param.set(scratch.param.subarray(0, n), start);
    }
  }
}

let tables: { signed: QuantizationTable; unsigned: QuantizationTable } | undefined;
function signedTable(): QuantizationTable {
  tables ??= { signed: buildQuantizationTable(quantizationMaps().signed), unsigned: buildQuantizationTable(quantizationMaps().unsigned) };
  return tables.signed;
}
function unsignedTable(): QuantizationTable {
  signedTable();
  return tables!.unsigned;
}

/** Copy a quantization table into an arena, laid out as kernels/wasm/blockwise8bit.ts reads it. */
function writeTable(arena: Arena, table: QuantizationTable): number {
  const k = arena.kernel;
  const bytes = k.QUANTIZATION_TABLE_BYTES.value as number;
  const offset = arena.tryAllocateBytes(bytes);
  if (offset === null) throw new Error('adamw-lab: out of WebAssembly memory for quantization tables');
  const buffer = arena.memory.buffer;
  new Float32Array(buffer, offset, 256).set(table.values);
  new Uint8Array(buffer, offset + (k.QUANTIZATION_CODES_OFFSET.value as number), 65536).set(table.codes);
  new Float32Array(buffer, offset + (k.QUANTIZATION_THRESHOLDS_OFFSET.value as number), 65536).set(table.thresholds);
  return offset;
}
