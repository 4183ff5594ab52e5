/**
 * A job is one kernel call over one contiguous range, encoded as JOB_FIELDS numbers
 * ([kernel kind, arena index, …the kernel's arguments]) so that a whole step's jobs travel to a worker
 * thread in one Float64Array. The encoder (`pushJob`, from an args object by name) and the only
 * decoder (`runJobs`, whose source text worker threads receive) are generated from the kernels'
 * AssemblyScript signatures by scripts/build-wasm.mjs, so the encoding is declared once, there.
 * @module
 */
export { JOB_FIELDS, pushJob, runJobs, type KernelJob } from './kernel-abi.generated.js';

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
