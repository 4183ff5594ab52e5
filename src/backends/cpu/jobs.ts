/**
 * A job is one kernel call over one contiguous range, encoded as JOB_FIELDS numbers
 * ([kernel kind, arena index, …the kernel's arguments]) so that a whole step's jobs travel to a worker
 * thread in one Float64Array. `runJobs` is the only decoder: worker threads receive its source text,
 * so the encoding is declared here once.
 * @module
 */
import type { WasmKernelExports } from './kernel.js';

/** Numbers per job: kind, arena, and up to 22 kernel arguments. */
export const JOB_FIELDS = 24;

/** The kernels a job can call. */
export const enum JobKind {
  Adam = 0,
  Optimi = 1,
  Adam8bit = 2,
}

/** Append one job: `args` are the kernel's arguments in its declared order. */
export function pushJob(out: number[], kind: JobKind, arenaIndex: number, args: readonly number[]): void {
  out.push(kind, arenaIndex, ...args);
  for (let i = args.length; i < JOB_FIELDS - 2; i++) out.push(0);
}

/**
 * Run encoded jobs. Self-contained (no imports, no closures, no inner functions, which bundlers may
 * wrap with helpers): its source is sent to worker threads. With `claimed`, a counter shared by
 * every thread of a step, each thread takes the next unclaimed job until none is left (dynamic
 * chunks: a thread that runs slower, or starts later, simply takes fewer); without it, all jobs in
 * order. `scratchOffset` is this thread's offset into the 8-bit kernel's per-thread scratch.
 */
export function runJobs(kernels: readonly WasmKernelExports[], jobs: ArrayLike<number>, scratchOffset = 0, claimed?: Int32Array): void {
  const j = jobs;
  const count = j.length / 24;
  for (let next = 0; ; next++) {
    const index = claimed ? Atomics.add(claimed, 0, 1) : next;
    if (index >= count) break;
    const at = index * 24;
    const k = kernels[j[at + 1]!]!;
    const b = at + 2;
    switch (j[at]) {
      case 0:
        k.adamStepF32(j[b + 0]!, j[b + 1]!, j[b + 2]!, j[b + 3]!, j[b + 4]!, j[b + 5]!, j[b + 6]!, j[b + 7]!, j[b + 8]!, j[b + 9]!, j[b + 10]!, j[b + 11]!, j[b + 12]!, j[b + 13]!, j[b + 14]!, j[b + 15]!);
        break;
      case 1:
        k.optimiStep(j[b + 0]!, j[b + 1]!, j[b + 2]!, j[b + 3]!, j[b + 4]!, j[b + 5]!, j[b + 6]!, j[b + 7]!, j[b + 8]!, j[b + 9]!, j[b + 10]!, j[b + 11]!, j[b + 12]!, j[b + 13]!, j[b + 14]!, j[b + 15]!, j[b + 16]!);
        break;
      case 2:
        k.adam8bitStep(j[b + 0]!, j[b + 1]!, j[b + 2]!, j[b + 3]!, j[b + 4]!, j[b + 5]!, j[b + 6]!, j[b + 7]!, j[b + 8]!, j[b + 9]!, j[b + 10]!, j[b + 11]!, j[b + 12]!, j[b + 13]!, j[b + 14]!, j[b + 15]!, j[b + 16]!, j[b + 17]!, j[b + 18]!, j[b + 19]!, j[b + 20]!, j[b + 21]! + scratchOffset);
        break;
      default:
        throw new Error('adamw-lab: internal error: unknown job kind ' + String(j[at]));
    }
  }
}

/** A task that can be cut into element ranges, each encoded as one job. */
export interface RangeTask {
  length: number;
  /** Append the job for elements [start, end). */
  encode(start: number, end: number, out: number[]): void;
}

/** Ranges cut from a task start on multiples of 256 elements: whole 8-bit blocks, aligned v128 loads. */
export const SPLIT_ALIGN = 256;

/**
 * Encode tasks as jobs of at most `chunk` elements (a multiple of SPLIT_ALIGN; Infinity for one job
 * per task), cutting each task at multiples of `chunk` from its start. Threads then claim the jobs
 * one at a time (runJobs), so small chunks balance them.
 */
export function chunkRanges(tasks: readonly RangeTask[], chunk: number): number[] {
  if (chunk !== Infinity && (chunk <= 0 || chunk % SPLIT_ALIGN !== 0)) {
    throw new Error(`adamw-lab: chunkRanges: chunk ${chunk} is not a positive multiple of ${SPLIT_ALIGN}`);
  }
  const out: number[] = [];
  for (const task of tasks) {
    for (let start = 0; start < task.length; start += chunk) task.encode(start, Math.min(task.length, start + chunk), out);
  }
  return out;
}
