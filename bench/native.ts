/**
 * The native peer of `npm run bench`: bench/native/adamw.cpp (a fused AdamW loop, DeepSpeed's CPU Adam
 * algorithm) compiled with this machine's g++ and timed on the same sizes and threads as the wasm step.
 * Before it is timed, it must compute what our kernel computes: a seeded problem is stepped by both
 * and compared in ulps. The two are timed in alternating rounds (a native process, then our step), and
 * our step / native step is the median of the rounds' ratios, so both see the same machine. Where g++
 * is missing the peer is skipped, with the reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, createParam, releaseParam } from '../src/index.js';
import { seededNormal } from '../test/helpers.js';
import { median, timeStatsOf, type TimeStats } from './results.js';

/** -fno-math-errno lets std::sqrt vectorize (DeepSpeed calls the vector sqrt intrinsic directly). */
export const NATIVE_FLAGS = ['-O3', '-march=native', '-fopenmp', '-fno-math-errno', '-std=c++17'];
/** The peer must agree with our wasm step within this many fp32 ulps (FMA contraction may differ by one or two). */
const MAX_ULPS = 8;

export interface NativeTiming extends TimeStats {
  n: number;
  threads: number;
  /** Our step's median over the native step's median, round by round: min, median, max of the rounds. */
  oursOverNative: TimeStats;
}

export type NativePeer =
  | { compiler: string; flags: string[]; check: { n: number; steps: number; maxUlps: number }; results: NativeTiming[] }
  | { skipped: string };

/** Distance in fp32 ulps: the gap between the two values' positions on the ordered fp32 number line. */
function ulps(a: number, b: number): number {
  const ordered = (x: number): number => {
    const bits = new Int32Array(Float32Array.of(x).buffer)[0]!;
    return bits < 0 ? -2147483648 - bits : bits;
  };
  return Math.abs(ordered(a) - ordered(b));
}

/** Steps a seeded problem with the native binary and with our wasm kernel; the largest ulp gap over p, m, v. */
async function checkAgainstWasm(binary: string, dir: string): Promise<{ n: number; steps: number; maxUlps: number }> {
  const n = 4099; // not a multiple of any vector width
  const steps = 3;
  const hp = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 };
  const normal = seededNormal(2026);
  const p0 = Float32Array.from({ length: n }, normal);
  const g = Float32Array.from({ length: n }, () => 0.1 * normal());
  writeFileSync(join(dir, 'in.bin'), Buffer.concat([Buffer.from(p0.buffer), Buffer.from(g.buffer)]));
  execFileSync(binary, ['check', join(dir, 'in.bin'), join(dir, 'out.bin'), String(steps), ...[hp.lr, ...hp.betas, hp.eps, hp.weightDecay].map(String)]);
  const out = readFileSync(join(dir, 'out.bin'));
  const native = new Float32Array(out.buffer, out.byteOffset, 3 * n);

  const param = createParam(p0);
  const opt = new AdamW([param], { ...hp, threads: 1 });
  for (let t = 0; t < steps; t++) {
    param.grad.set(g);
    await opt.step();
  }
  const state = opt.stateDict().state[0]!;
  const ours = [param.data, state.exp_avg as Float32Array, state.exp_avg_sq as Float32Array];
  let maxUlps = 0;
  ours.forEach((values, k) => values.forEach((x, i) => (maxUlps = Math.max(maxUlps, ulps(x, native[k * n + i]!)))));
  opt.destroy();
  releaseParam(param);
  if (maxUlps > MAX_ULPS) throw new Error(`bench: the native peer disagrees with the wasm step by ${maxUlps} ulps (allowed: ${MAX_ULPS}); it is not computing the same AdamW`);
  return { n, steps, maxUlps };
}

/**
 * Compile, check and time the native peer on `sizes` × `threadCounts` (OMP_NUM_THREADS): `rounds`
 * rounds of `reps` native steps, each followed by `oursSeconds(n, threads)` (the median of our steps).
 * The native figures are the min, median and max over all rounds (the median: of the rounds' medians).
 */
export async function nativePeer(
  sizes: readonly number[], threadCounts: readonly number[], reps: number, rounds: number,
  oursSeconds: (n: number, threads: number) => Promise<number>,
): Promise<NativePeer> {
  let compiler: string;
  try {
    compiler = execFileSync('g++', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    return { skipped: 'no g++ on PATH (apt-get install g++ to measure the native peer)' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'adamw-lab-native-'));
  try {
    const binary = join(dir, 'adamw');
    execFileSync('g++', [...NATIVE_FLAGS, '-o', binary, join(__dirname, 'native', 'adamw.cpp')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const check = await checkAgainstWasm(binary, dir);
    const results: NativeTiming[] = [];
    for (const n of sizes) {
      for (const threads of threadCounts) {
        const native: TimeStats[] = [];
        const ratios: number[] = [];
        for (let round = 0; round < rounds; round++) {
          const out = execFileSync(binary, ['time', String(n), String(reps)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
          const r = JSON.parse(out) as TimeStats & { threads: number };
          if (r.threads !== threads) throw new Error(`bench: the native peer ran on ${r.threads} threads, not ${threads}`);
          native.push(r);
          ratios.push((await oursSeconds(n, threads)) / r.median);
        }
        results.push({
          n, threads, min: Math.min(...native.map((t) => t.min)), median: median(native.map((t) => t.median)), max: Math.max(...native.map((t) => t.max)),
          oursOverNative: timeStatsOf(ratios),
        });
      }
    }
    return { compiler, flags: NATIVE_FLAGS, check, results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
