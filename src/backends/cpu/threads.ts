/**
 * A pool of Node worker threads that run kernel jobs over shared WebAssembly memories. Browsers get
 * threads-browser.ts instead (package.json "browser" field), which reports no threads.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runJobs } from './jobs.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const kernels = [];
const runJobs = ${runJobs.toString()};
parentPort.on('message', (message) => {
  for (const memory of message.attach) {
    kernels.push(new WebAssembly.Instance(workerData.module, { env: { memory } }).exports);
  }
  runJobs(kernels, message.jobs, message.scratchOffset, message.claimed);
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
    const pending: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const w = this.worker(i);
      const attach = memories.slice(w.attached);
      w.attached = memories.length;
      const id = this.nextId++;
      pending.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (reply: number): void => {
            if (reply !== id) return;
            w.worker.off('message', onMessage);
            w.worker.off('error', reject);
            w.worker.unref();
            resolve();
          };
          w.worker.on('message', onMessage);
          w.worker.once('error', reject);
        }),
      );
      // Keep the process alive only while a step is in flight.
      w.worker.ref();
      w.worker.postMessage({ id, attach, jobs, scratchOffset: (i + 1) * scratchStride, claimed });
    }
    return Promise.all(pending).then(() => undefined);
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
