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
import { allArenas, allocateInArena, allocateViewInArena, arenaOf, releaseFromArena, type Arena } from './arena.js';
import { JOB_FIELDS, pushJob, runJobs } from './jobs.js';
import { kernelModule } from './kernel.js';
import { hardwareThreads, ThreadPool } from './threads.js';

/** Elements per staged chunk: p and g scratch (2 × 64 KiB) stay in L2 while the kernel runs. */
const STAGE_CHUNK = 16384;
/** Below this many elements per thread, posting to a worker costs more than it saves. */
const MIN_ELEMENTS_PER_THREAD = 1 << 17;
/** Ranges split between threads start on multiples of 16 elements (64 bytes), keeping v128 alignment. */
const SPLIT_ALIGN = 16;

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
  private readonly tablesByArena = new Map<Arena, { signed: number; unsigned: number }>();

  constructor(options: WasmBackendOptions = {}) {
    const available = hardwareThreads();
    this.threads = Math.max(1, Math.min(options.threads ?? available, available));
    kernelModule();
  }

  get description(): string {
    return `cpu (WebAssembly SIMD, up to ${this.threads} thread${this.threads > 1 ? 's' : ''})`;
  }

  allocate<D extends BufferDtype>(dtype: D, length: number, near?: ArrayBufferView): BufferOf<D> {
    const Type = dtype === 'f32' ? Float32Array : dtype === 'bf16' ? Uint16Array : Uint8Array;
    return allocateViewInArena(Type as unknown as typeof Uint8Array, length, near) as unknown as BufferOf<D>;
  }

  release(buffer: StateBuffer): void {
    releaseFromArena(buffer);
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    const arenas = allArenas();
    const resident: number[] = [];
    let residentElements = 0;
    for (const task of tasks) {
      if (task.plan.family !== 'adam') {
        this.variantStep(task);
        continue;
      }
      const param = task.param as Float32Array;
      const grad = task.grad as Float32Array;
      const expAvg = task.buffers.exp_avg as Float32Array;
      const expAvgSq = task.buffers.exp_avg_sq as Float32Array;
      const maxExpAvgSq = (task.buffers.max_exp_avg_sq as Float32Array | undefined) ?? null;
      const arena = arenaOf(expAvg)!;
      const scalars = adamStepScalars(task.hp, task.step);
      const maxAddress = maxExpAvgSq?.byteOffset ?? 0;
      if (arenaOf(param) === arena && arenaOf(grad) === arena) {
        pushJob(resident, arenas.indexOf(arena), param.byteOffset, grad.byteOffset, expAvg.byteOffset,
          expAvgSq.byteOffset, maxAddress, param.length, task.hp.amsgrad, scalars);
        residentElements += param.length;
      } else {
        this.stagedStep(arena, param, grad, expAvg, expAvgSq, maxAddress, task.hp.amsgrad, scalars);
      }
    }
    const threads = Math.min(this.threads, Math.floor(residentElements / MIN_ELEMENTS_PER_THREAD));
    this.lastStepThreads = Math.max(1, threads);
    if (resident.length === 0) return;
    if (threads <= 1) {
      runJobs(arenas.map((a) => a.kernel), resident);
      return;
    }
    const parts = splitJobs(resident, residentElements, threads);
    sharedPool ??= new ThreadPool(kernelModule(), this.threads - 1);
    const workers = sharedPool.run(parts.slice(1), arenas.map((a) => a.memory));
    runJobs(arenas.map((a) => a.kernel), parts[0]!);
    await workers;
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
    const at = (name: string, start: number): number => {
      const b = task.buffers[name];
      if (!b) return 0;
      const perBlock = plan.family === 'blockwise8bit' && name.startsWith('absmax');
      return b.byteOffset + (perBlock ? (start / BLOCK_SIZE) * 4 : start * b.BYTES_PER_ELEMENT);
    };
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
        1 - lr * hp.weightDecay, lr / (1 - hp.beta1 ** step), 1 / Math.sqrt(biasCorrection2), hp.eps);
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

  /** The quantization tables of both maps inside `arena` (copied in once per arena). */
  private quantizationTables(arena: Arena): { signed: number; unsigned: number } {
    let tables = this.tablesByArena.get(arena);
    if (!tables) {
      tables = { signed: writeTable(arena, signedTable()), unsigned: writeTable(arena, unsignedTable()) };
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
      pushJob(jobs, 0, scratch.param.byteOffset, scratch.grad.byteOffset, expAvg.byteOffset + start * 4,
        expAvgSq.byteOffset + start * 4, maxAddress === 0 ? 0 : maxAddress + start * 4, n, amsgrad, scalars);
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

/**
 * Cut a list of jobs into `parts` lists of about equal element counts, splitting a job's range where
 * needed at multiples of SPLIT_ALIGN elements.
 */
export function splitJobs(jobs: readonly number[], totalElements: number, parts: number): Float64Array[] {
  const out: number[][] = Array.from({ length: parts }, () => []);
  const target = Math.ceil(totalElements / parts / SPLIT_ALIGN) * SPLIT_ALIGN;
  let part = 0;
  let room = target;
  for (let j = 0; j < jobs.length; j += JOB_FIELDS) {
    const job = jobs.slice(j, j + JOB_FIELDS);
    let offset = 0;
    let remaining = job[6]!;
    while (remaining > 0) {
      // The last part takes the rest; others cut at an aligned point at or just past their share.
      const aligned = Math.max(SPLIT_ALIGN, Math.floor(room / SPLIT_ALIGN) * SPLIT_ALIGN);
      const take = part === parts - 1 || remaining <= room ? remaining : Math.min(remaining, aligned);
      const piece = job.slice();
      const bytes = offset * 4;
      piece[1]! += bytes;
      piece[2]! += bytes;
      piece[3]! += bytes;
      piece[4]! += bytes;
      if (piece[5] !== 0) piece[5]! += bytes;
      piece[6] = take;
      out[part]!.push(...piece);
      offset += take;
      remaining -= take;
      room -= take;
      if (room <= 0 && part < parts - 1) {
        part++;
        room = target;
      }
    }
  }
  return out.map((list) => Float64Array.from(list));
}
