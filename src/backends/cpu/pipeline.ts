/**
 * A pipelined step for tensors the workers cannot reach: plain arrays (a Float32Array from
 * `dataSync()`, say) live outside shared memory, so only the calling thread can read and write them.
 * It stages them through a ring of chunk-sized slots in the arena: while the workers update chunk k in
 * its slot, the calling thread copies chunk k+1 into the next slot and chunk k−1's params back out.
 * The step then costs about max(copy time, kernel time) instead of their sum.
 *
 * The two sides meet in shared memory, not through messages (a message round trip per chunk would
 * cost as much as a chunk's work):
 * - `control[0]`: chunks published so far (−1: stop); `control[1 + w]`: chunks worker w has finished
 *   (−1: it failed). Each side blocks in Atomics.wait and is woken by Atomics.notify.
 * - `jobs`: for each ring slot, one encoded job (jobs.ts) per worker; a NaN kind means that worker has
 *   no part of that chunk.
 * @module
 */
import { JOB_FIELDS, type runJobs as RunJobs } from './jobs.js';
import type { WasmKernelExports } from './kernel.js';

/** What each worker receives to take part in one pipelined step. */
export interface PipelineMessage {
  control: Int32Array;
  jobs: Float64Array;
  chunks: number;
  slots: number;
  workers: number;
  worker: number;
}

/**
 * A worker's side: run its part of chunk 0, 1, … as each is published, and report each one done.
 * Self-contained (no imports, closures or inner functions): its source is sent to worker threads.
 */
export function runPipelineWorker(kernels: readonly WasmKernelExports[], jobsRunner: typeof RunJobs, p: PipelineMessage): void {
  const control = p.control;
  const done = 1 + p.worker;
  try {
    for (let k = 0; k < p.chunks; k++) {
      let published = Atomics.load(control, 0);
      while (published >= 0 && published <= k) {
        Atomics.wait(control, 0, published);
        published = Atomics.load(control, 0);
      }
      if (published < 0) return;
      const at = ((k % p.slots) * p.workers + p.worker) * 24;
      if (p.jobs[at] === p.jobs[at]) jobsRunner(kernels, p.jobs.subarray(at, at + 24));
      Atomics.store(control, done, k + 1);
      Atomics.notify(control, done);
    }
  } catch (e) {
    Atomics.store(control, done, -1);
    Atomics.notify(control, done);
    throw e;
  }
}

/** The calling thread's side of a pipelined step over `length` elements. */
export interface PipelinePlan {
  length: number;
  /** Elements per chunk: a multiple of 256 (whole 8-bit blocks, aligned vectors). */
  chunk: number;
  /** Ring slots; 3 suffice (k−1 being copied out, k computed, k+1 copied in); one more is slack. */
  slots: number;
  workers: number;
  /** Starts the workers on `message` (each worker gets its own `worker` index); resolves when all have finished. */
  start(message: Omit<PipelineMessage, 'worker'>): Promise<void>;
  /** Copy elements [start, end) of the param and grad into ring slot `slot`. */
  stageIn(slot: number, start: number, end: number): void;
  /** Copy the updated params of elements [start, end) back out of ring slot `slot`. */
  stageOut(slot: number, start: number, end: number): void;
  /** Append the job that updates `count` elements of slot `slot` from element `start` (of the tensor) on worker `worker`. */
  encode(slot: number, start: number, count: number, worker: number, out: number[]): void;
}

/** Ranges split between workers start on multiples of this many elements (whole 8-bit blocks). */
const WORKER_ALIGN = 256;

/** Runs a pipelined step; the calling thread only copies, the workers only compute. */
export async function runPipelined(plan: PipelinePlan): Promise<void> {
  const { length, chunk, slots, workers } = plan;
  const chunks = Math.ceil(length / chunk);
  const control = new Int32Array(new SharedArrayBuffer(4 * (1 + workers)));
  const jobs = new Float64Array(new SharedArrayBuffer(8 * JOB_FIELDS * slots * workers));
  const finished = plan.start({ control, jobs, chunks, slots, workers });
  const bounds = (k: number): [number, number] => [k * chunk, Math.min(length, (k + 1) * chunk)];
  const job: number[] = [];
  const publish = (k: number): void => {
    const [start, end] = bounds(k);
    plan.stageIn(k % slots, start, end);
    // Each worker takes an aligned share of the chunk; the last takes what is left.
    const share = Math.ceil((end - start) / workers / WORKER_ALIGN) * WORKER_ALIGN;
    for (let w = 0; w < workers; w++) {
      const from = Math.min(end, start + w * share);
      const to = w === workers - 1 ? end : Math.min(end, from + share);
      const at = ((k % slots) * workers + w) * JOB_FIELDS;
      if (to > from) {
        job.length = 0;
        plan.encode(k % slots, from, to - from, w, job);
        jobs.set(job, at);
      } else {
        jobs[at] = NaN;
      }
    }
    Atomics.store(control, 0, k + 1);
    Atomics.notify(control, 0);
  };
  const retire = (k: number): boolean => {
    for (let w = 0; w < workers; w++) {
      let done = Atomics.load(control, 1 + w);
      while (done >= 0 && done <= k) {
        Atomics.wait(control, 1 + w, done);
        done = Atomics.load(control, 1 + w);
      }
      if (done < 0) return false;
    }
    const [start, end] = bounds(k);
    plan.stageOut(k % slots, start, end);
    return true;
  };
  let workersOk = true;
  try {
    publish(0);
    for (let k = 0; k < chunks && workersOk; k++) {
      // Workers update chunk k while this thread stages chunk k+1 in and chunk k−1 out.
      if (k + 1 < chunks) publish(k + 1);
      if (k > 0) workersOk = retire(k - 1);
    }
    if (workersOk) retire(chunks - 1);
  } finally {
    // Releases workers still waiting for a chunk when this thread stopped early (a worker failed, or a copy threw).
    if (Atomics.load(control, 0) < chunks) {
      Atomics.store(control, 0, -1);
      Atomics.notify(control, 0);
    }
  }
  await finished; // a worker's failure rejects here, with its error
}
