/**
 * Browser replacement for threads.ts (package.json "browser" field): no worker pool, so the CPU
 * backend runs every job on the calling thread.
 * @module
 */

/** Stand-in with the same shape as the Node pool; never constructed because hardwareThreads() is 1. */
export class ThreadPool {
  constructor(_module: WebAssembly.Module, readonly size: number) {
    throw new Error('adamw-lab: worker threads are not available in this build');
  }
  run(): Promise<void> {
    return Promise.resolve();
  }
  pipeline(): Promise<void> {
    return Promise.resolve();
  }
  terminate(): Promise<void> {
    return Promise.resolve();
  }
}

/** One: the calling thread. */
export function hardwareThreads(): number {
  return 1;
}
