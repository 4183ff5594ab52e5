/**
 * A pipelined step for tensors the workers cannot reach: plain arrays (a Float32Array from
 * `dataSync()`, say) live outside shared memory, so only the calling thread can read and write them.
 * It stages them through a ring of chunk-sized slots in the arena: while chunk k is updated in its
 * slot, the calling thread copies chunk k+1 into the next slot and chunk k−1's params back out. The
 * step then costs about max(copy time, kernel time) instead of their sum.
 *
 * Each chunk is cut into parts that any thread may claim, the calling thread included: it copies
 * first, and claims parts only when it would otherwise wait for them. So the work balances itself
 * whether copying (fp32 AdamW) or computing (the 8-bit kernel) is the slower side.
 *
 * The threads meet in shared memory, not through messages (a message round trip per chunk would cost
 * as much as a chunk's work). `control` holds, at these indices:
 * - PUBLISHED: chunks staged in so far (−1: stop);
 * - NEXT_PART: the next part to claim, counted over the whole tensor (Atomics.add hands out each once);
 * - FAILED: 1 once a worker has thrown;
 * - FINISHED + slot: parts of the chunk now in `slot` that are done.
 * `jobs` holds one encoded job (jobs.ts) per part of each slot; a NaN kind means the part is empty.
 * Threads block in Atomics.wait and are woken by Atomics.notify.
 * @module
 */
import { JOB_FIELDS, runJobs, type runJobs as RunJobs } from './jobs.js';
import type { WasmKernelExports } from './kernel.js';

const PUBLISHED = 0;
const NEXT_PART = 1;
const FAILED = 2;
const FINISHED = 3;

/** What each worker receives to take part in one pipelined step. */
export interface PipelineMessage {
  control: Int32Array;
  jobs: Float64Array;
  chunks: number;
  slots: number;
  partsPerChunk: number;
  /** Numbers per job (JOB_FIELDS, generated from the kernels' signatures), sent because the worker's code has no imports. */
  jobFields: number;
}

/**
 * A worker's side: claim parts in order, wait for each one's chunk to be staged, run it, count it.
 * Self-contained (no imports, closures or inner functions; indices written out): its source is sent
 * to worker threads.
 */
export function runPipelineWorker(kernels: readonly WasmKernelExports[], jobsRunner: typeof RunJobs, p: PipelineMessage): void {
  const c = p.control;
  const total = p.chunks * p.partsPerChunk;
  try {
    for (;;) {
      const part = Atomics.add(c, 1, 1);
      if (part >= total) return;
      const k = Math.floor(part / p.partsPerChunk);
      let published = Atomics.load(c, 0);
      while (published >= 0 && published <= k) {
        Atomics.wait(c, 0, published);
        published = Atomics.load(c, 0);
      }
      if (published < 0) return;
      const slot = k % p.slots;
      const at = (slot * p.partsPerChunk + (part - k * p.partsPerChunk)) * p.jobFields;
      if (p.jobs[at] === p.jobs[at]) jobsRunner(kernels, p.jobs.subarray(at, at + p.jobFields));
      Atomics.add(c, 3 + slot, 1);
      Atomics.notify(c, 3 + slot);
    }
  } catch (e) {
    Atomics.store(c, 2, 1);
    for (let slot = 0; slot < p.slots; slot++) Atomics.notify(c, 3 + slot);
    throw e;
  }
}

/** The calling thread's side of a pipelined step over `length` elements. */
export interface PipelinePlan {
  length: number;
  /** Elements per chunk. */
  chunk: number;
  /** Elements per part: divides `chunk`, a multiple of 256 (whole 8-bit blocks, aligned vectors). */
  part: number;
  /** Ring slots; 3 suffice (k−1 being copied out, k computed, k+1 copied in); one more is slack. */
  slots: number;
  /** The calling thread's kernels, one per arena (as jobs name them). */
  kernels: readonly WasmKernelExports[];
  /** Starts the workers on `message`; resolves when all have finished. */
  start(message: PipelineMessage): Promise<void>;
  /** Copy elements [start, end) of the param and grad into ring slot `slot`. */
  stageIn(slot: number, start: number, end: number): void;
  /** Copy the updated params of elements [start, end) back out of ring slot `slot`. */
  stageOut(slot: number, start: number, end: number): void;
  /**
   * Append the job that updates elements [start, start + count) of the tensor, staged at their offset
   * in slot `slot`. `scratch` (below slots × parts per chunk) is the part's own scratch index: parts
   * that may run at once never share one.
   */
  encode(slot: number, start: number, count: number, scratch: number, out: number[]): void;
}

/** Runs a pipelined step: the calling thread stages, and claims parts whenever it would wait. */
export async function runPipelined(plan: PipelinePlan): Promise<void> {
  const { length, chunk, part, slots } = plan;
  const chunks = Math.ceil(length / chunk);
  const partsPerChunk = chunk / part;
  const total = chunks * partsPerChunk;
  const control = new Int32Array(new SharedArrayBuffer(4 * (FINISHED + slots)));
  const jobs = new Float64Array(new SharedArrayBuffer(8 * JOB_FIELDS * slots * partsPerChunk));
  const finished = plan.start({ control, jobs, chunks, slots, partsPerChunk, jobFields: JOB_FIELDS });
  finished.catch(() => undefined); // awaited below; a failure is also flagged in `control`
  const job: number[] = [];
  let published = 0;

  const publish = (k: number): void => {
    const slot = k % slots;
    const start = k * chunk, end = Math.min(length, start + chunk);
    plan.stageIn(slot, start, end);
    for (let i = 0; i < partsPerChunk; i++) {
      const from = Math.min(end, start + i * part), to = Math.min(end, from + part);
      const at = (slot * partsPerChunk + i) * JOB_FIELDS;
      if (to > from) {
        job.length = 0;
        plan.encode(slot, from, to - from, slot * partsPerChunk + i, job);
        jobs.set(job, at);
      } else {
        jobs[at] = NaN;
      }
    }
    Atomics.store(control, FINISHED + slot, 0); // chunk k − slots, the slot's last, is retired
    published = k + 1;
    Atomics.store(control, PUBLISHED, published);
    Atomics.notify(control, PUBLISHED);
  };

  /** Claim and run the next part here if its chunk is staged; false when there is none to take. */
  const helpOnce = (): boolean => {
    const next = Atomics.load(control, NEXT_PART);
    if (next >= total || Math.floor(next / partsPerChunk) >= published) return false;
    if (Atomics.compareExchange(control, NEXT_PART, next, next + 1) !== next) return true; // another thread took it: look again
    const k = Math.floor(next / partsPerChunk);
    const at = ((k % slots) * partsPerChunk + (next - k * partsPerChunk)) * JOB_FIELDS;
    if (jobs[at] === jobs[at]) runJobs(plan.kernels, jobs.subarray(at, at + JOB_FIELDS));
    Atomics.add(control, FINISHED + (k % slots), 1);
    return true;
  };

  /** Wait for chunk k (helping while it is not done), then copy its params out; false if a worker failed. */
  const retire = (k: number): boolean => {
    const slot = k % slots;
    for (;;) {
      if (Atomics.load(control, FAILED)) return false;
      const done = Atomics.load(control, FINISHED + slot);
      if (done >= partsPerChunk) break;
      if (!helpOnce()) Atomics.wait(control, FINISHED + slot, done);
    }
    plan.stageOut(slot, k * chunk, Math.min(length, (k + 1) * chunk));
    return true;
  };

  let workersOk = true;
  try {
    publish(0);
    for (let k = 0; k < chunks && workersOk; k++) {
      // Chunk k is updated while this thread stages chunk k+1 in and chunk k−1 out.
      if (k + 1 < chunks) publish(k + 1);
      if (k > 0) workersOk = retire(k - 1);
    }
    if (workersOk) workersOk = retire(chunks - 1);
  } finally {
    // Releases workers still waiting for a chunk when this thread stopped early (a worker failed, or a copy threw).
    if (published < chunks) {
      Atomics.store(control, PUBLISHED, -1);
      Atomics.notify(control, PUBLISHED);
    }
  }
  await finished; // a worker's failure rejects here, with its error
}
