/**
 * A pool of Node worker threads that run kernel jobs over shared WebAssembly memories. Browsers get
 * threads-browser.ts instead (package.json "browser" field), which reports no threads.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runJobs } from './jobs.js';
import { runPipelineWorker, type PipelineMessage } from './pipeline.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const kernels = [];
const runJobs = ${runJobs.toString()};
const runPipelineWorker = ${runPipelineWorker.toString()};
parentPort.on('message', (message) => {
  for (const memory of message.attach) {
    kernels.push(new WebAssembly.Instance(workerData.module, { env: { memory } }).exports);
  }
  if (message.pipeline) runPipelineWorker(kernels, runJobs, message.pipeline);
  else runJobs(kernels, message.jobs, message.scratchOffset, message.claimed);
  parentPort.postMessage(message.id);
});
`;

interface PoolWorker {
  worker: Worker;
  attached: number;
}

/** Worker threads sharing the kernel module and the arenas' memories with the main thread. */
export class ThreadPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;

  constructor(private readonly module: WebAssembly.Module, readonly size: number) {}

  /**
   * Run the shared `jobs` on `workers` workers (creating them on first use), each claiming jobs
   * through the shared counter `claimed` (runJobs) with its own scratch (worker i: (i + 1)·`scratchStride`
   * bytes; the calling thread has offset 0), after attaching any arenas in `memories` that the worker
   * has not seen. Resolves when every worker has finished.
   */
  run(jobs: Float64Array, workers: number, scratchStride: number, claimed: Int32Array, memories: readonly WebAssembly.Memory[]): Promise<void> {
    const started = Array.from({ length: workers }, (_, i) => this.post(i, { jobs, scratchOffset: (i + 1) * scratchStride, claimed }, memories));
    return Promise.all(started).then(() => undefined);
  }

  /** Start workers 0 … `workers` − 1 on one pipelined step (pipeline.ts); resolves when all have finished. */
  pipeline(message: PipelineMessage, workers: number, memories: readonly WebAssembly.Memory[]): Promise<void> {
    const started = Array.from({ length: workers }, (_, worker) => this.post(worker, { jobs: [], pipeline: message }, memories));
    return Promise.all(started).then(() => undefined);
  }

  /** Post `body` to worker i (after attaching the memories it has not seen); resolves when it replies. */
  private post(i: number, body: { jobs: Float64Array | []; pipeline?: PipelineMessage; scratchOffset?: number; claimed?: Int32Array }, memories: readonly WebAssembly.Memory[]): Promise<void> {
    const w = this.worker(i);
    const attach = memories.slice(w.attached);
    w.attached = memories.length;
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => {
      const onMessage = (reply: number): void => {
        if (reply !== id) return;
        w.worker.off('message', onMessage);
        w.worker.off('error', reject);
        w.worker.unref();
        resolve();
      };
      w.worker.on('message', onMessage);
      w.worker.once('error', reject);
    });
    // Keep the process alive only while a step is in flight.
    w.worker.ref();
    w.worker.postMessage({ id, attach, ...body });
    return done;
  }

  /** Stop every worker thread. */
  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }

  private worker(i: number): PoolWorker {
    let w = this.workers[i];
    if (!w) {
      w = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { module: this.module } }), attached: 0 };
      w.worker.unref();
      this.workers[i] = w;
    }
    return w;
  }
}

/** Hardware threads available to this process (the main thread included). */
export function hardwareThreads(): number {
  return availableParallelism();
}
