/**
 * A job is one kernel call over one contiguous range, encoded as JOB_FIELDS numbers so that a whole
 * step's jobs travel to a worker thread in one Float64Array. `runJobs` is the only decoder: worker
 * threads receive its source text, so the encoding is declared here once.
 * @module
 */
import type { AdamStepScalars } from '../../rules/adam.js';
import type { WasmKernelExports } from './kernel.js';

/** [arena, param, grad, expAvg, expAvgSq, maxExpAvgSq, length, amsgrad, ...9 scalars]. */
export const JOB_FIELDS = 17;

/** Append one job to `out`. Addresses are byte offsets into arena `arenaIndex`'s memory. */
export function pushJob(
  out: number[], arenaIndex: number, param: number, grad: number, expAvg: number, expAvgSq: number,
  maxExpAvgSq: number, length: number, amsgrad: boolean, s: AdamStepScalars,
): void {
  out.push(
    arenaIndex, param, grad, expAvg, expAvgSq, maxExpAvgSq, length, amsgrad ? 1 : 0,
    s.gradSign, s.decay, s.l2, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.invSqrtBiasCorrection2, s.eps, s.negStepSize,
  );
}

/** Run encoded jobs. Self-contained (no imports, no closures): its source is sent to worker threads. */
export function runJobs(kernels: readonly WasmKernelExports[], jobs: ArrayLike<number>): void {
  for (let j = 0; j < jobs.length; j += 17) {
    kernels[jobs[j]!]!.adamStepF32(
      jobs[j + 1]!, jobs[j + 2]!, jobs[j + 3]!, jobs[j + 4]!, jobs[j + 5]!, jobs[j + 6]!, jobs[j + 7]!,
      jobs[j + 8]!, jobs[j + 9]!, jobs[j + 10]!, jobs[j + 11]!, jobs[j + 12]!, jobs[j + 13]!, jobs[j + 14]!,
      jobs[j + 15]!, jobs[j + 16]!,
    );
  }
}
