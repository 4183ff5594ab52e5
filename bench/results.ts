/** What every benchmark shares: where results go, and median timing. */
import { join } from 'node:path';

/** Where benchmarks write their results: the docs site reads them from here (committed). */
export const BENCH_RESULTS_DIR = join(__dirname, '..', 'site', 'data', 'bench');

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall time of one (awaited) call of `fn`, in seconds. */
export async function secondsOf(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Median wall time of `fn` in seconds over `reps` calls, after `warmup` calls; the machines are noisy, so never a mean. */
export async function timeMedian(fn: () => unknown, reps: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await secondsOf(fn));
  return median(times);
}
