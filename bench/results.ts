/** What every benchmark shares: command-line options, where results go, and timing (min, median, max). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where benchmarks write their results by default: the docs site reads them from here (committed). */
export const BENCH_RESULTS_DIR = join(__dirname, '..', 'site', 'data', 'bench');

/** How a benchmark was asked to run. */
export interface BenchOptions {
  /** `--smoke`: tiny sizes and few repetitions, to prove the benchmark runs to the end (npm test does this). */
  smoke: boolean;
  /** `--out=DIR`: where the JSON goes (default: site/data/bench, which the site publishes). */
  outDir: string;
  /** The command that ran, as recorded in the JSON: `npm run <script>` and its arguments. */
  command: string;
}

/** Parse `--smoke` and `--out=DIR` (other `--name=value` arguments are the benchmark's own). */
export function benchOptions(npmScript: string, argv: readonly string[] = process.argv.slice(2)): BenchOptions {
  const out = argv.find((a) => a.startsWith('--out='));
  return {
    smoke: argv.includes('--smoke'),
    outDir: out ? out.slice('--out='.length) : BENCH_RESULTS_DIR,
    command: `npm run ${npmScript}${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  };
}

/** Write `data` as `file` in the options' output directory; returns the path. */
export function writeResults(options: BenchOptions, file: string, data: object): string {
  mkdirSync(options.outDir, { recursive: true });
  const path = join(options.outDir, file);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The spread of repeated timings, in seconds. Shared machines are noisy: never a mean. */
export interface TimeStats {
  min: number;
  median: number;
  max: number;
}

export function timeStatsOf(xs: readonly number[]): TimeStats {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}

/** Wall time of one (awaited) call of `fn`, in seconds. */
export async function secondsOf(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Min, median and max wall time of `fn` in seconds over `reps` calls, after `warmup` calls. */
export async function timeStats(fn: () => unknown, reps: number, warmup = 2): Promise<TimeStats> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await secondsOf(fn));
  return timeStatsOf(times);
}

/**
 * Time several functions in alternating rounds (each round calls each once, in order), so all see the
 * same machine: a shared machine's speed drifts within seconds. Returns each one's times, round by round.
 */
export async function alternatingRounds<K extends string>(fns: Record<K, () => unknown>, rounds: number, warmup = 2): Promise<Record<K, number[]>> {
  const names = Object.keys(fns) as K[];
  const times = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < warmup + rounds; round++) {
    for (const k of names) {
      const t = await secondsOf(fns[k]);
      if (round >= warmup) times[k].push(t);
    }
  }
  return times;
}

/** A param count as the tables print it: 1M, 16M, 64K. */
export const sizeLabel = (n: number): string => (n >= 1 << 20 ? `${n / (1 << 20)}M` : `${n / (1 << 10)}K`);

/** Milliseconds as the tables print them: median [min–max]. */
export function formatMs(t: TimeStats): string {
  const digits = t.median < 0.01 ? 2 : 1;
  const f = (s: number): string => (s * 1e3).toFixed(digits);
  return `${f(t.median)} ms [${f(t.min)}–${f(t.max)}]`;
}
