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
 * wrap with helpers): its source is sent to worker threads.
 */
export function runJobs(kernels: readonly WasmKernelExports[], jobs: ArrayLike<number>): void {
  const j = jobs;
  for (let at = 0; at < j.length; at += 24) {
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
        k.adam8bitStep(j[b + 0]!, j[b + 1]!, j[b + 2]!, j[b + 3]!, j[b + 4]!, j[b + 5]!, j[b + 6]!, j[b + 7]!, j[b + 8]!, j[b + 9]!, j[b + 10]!, j[b + 11]!, j[b + 12]!, j[b + 13]!, j[b + 14]!, j[b + 15]!, j[b + 16]!, j[b + 17]!, j[b + 18]!, j[b + 19]!, j[b + 20]!, j[b + 21]!);
        break;
      default:
        throw new Error('adamw-lab: internal error: unknown job kind ' + String(j[at]));
    }
  }
}

/** A task that can be cut into element ranges, each encoded as one job for a given thread. */
export interface RangeTask {
  length: number;
  /** Append the job for elements [start, end), to run on thread `thread` (0 = the calling thread). */
  encode(start: number, end: number, thread: number, out: number[]): void;
}

/** Ranges split between threads start on multiples of 256 elements: whole 8-bit blocks, aligned v128 loads. */
export const SPLIT_ALIGN = 256;

/**
 * Cut tasks into `parts` job lists of about equal element counts, splitting a task where needed at
 * multiples of SPLIT_ALIGN elements from its start.
 */
export function splitRanges(tasks: readonly RangeTask[], parts: number): number[][] {
  const out: number[][] = Array.from({ length: parts }, () => []);
  const total = tasks.reduce((sum, t) => sum + t.length, 0);
  const target = Math.ceil(total / parts / SPLIT_ALIGN) * SPLIT_ALIGN;
  let part = 0;
  let room = target;
  for (const task of tasks) {
    let start = 0;
    while (start < task.length) {
      const remaining = task.length - start;
      // The last part takes the rest; others cut at an aligned point at or just past their share.
      const aligned = Math.max(SPLIT_ALIGN, Math.floor(room / SPLIT_ALIGN) * SPLIT_ALIGN);
      const take = part === parts - 1 || remaining <= room ? remaining : Math.min(remaining, aligned);
      task.encode(start, start + take, part, out[part]!);
      start += take;
      room -= take;
      if (room <= 0 && part < parts - 1) {
        part++;
        room = target;
      }
    }
  }
  return out;
}
