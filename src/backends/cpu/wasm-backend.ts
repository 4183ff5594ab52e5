/**
 * `backend: 'cpu'`: the fused WebAssembly SIMD kernel of kernels/wasm/adam.ts.
 *
 * Tensors whose param, grad and state all live in one arena (see arena.ts and `createParam`) are
 * updated in place and split across worker threads when the step is large enough to pay for them.
 * Other tensors are staged through a cache-sized scratch buffer on the calling thread.
 * @module
 */
import { adamStepScalars } from '../../rules/adam.js';
import type { BufferDtype, BufferOf, StateBuffer } from '../../optim/variants.js';
import type { Backend, UpdateTask } from '../backend.js';
import { runWithRules } from '../rule-runner.js';
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
        runWithRules(task);
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
