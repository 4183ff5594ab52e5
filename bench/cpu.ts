/**
 * CPU benchmark of the fused AdamW step (`npm run bench [-- --smoke] [-- --out=DIR]`). Everything below
 * comes from one run: the bytes each step must move, the copy bandwidth of this machine, the step time
 * of each CPU path at 1M and 16M params (min, median, max), their ratio to the bandwidth limits, plain
 * Float32Array params against the copy-bandwidth limit and against createParam (alternating rounds), a
 * native C++ peer (bench/native/adamw.cpp) on 1 and all threads, the measured memory of the optimizer
 * state, and torch.optim.AdamW on the same machine when Debian's python3-torch is installed.
 * Results go to site/data/bench/cpu.json (or --out=DIR), which the docs' benchmark page reads.
 * `--smoke` runs every part at tiny sizes, to show the benchmark still runs (npm test does this).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { allocateInArena, arenaOf, releaseFromArena } from '../src/backends/cpu/arena.js';
import { AdamW, createParam, releaseParam, type BackendName, type Param } from '../src/index.js';
import { alternatingRounds, benchOptions, formatMs, median, sizeLabel, timeStats, timeStatsOf, writeResults, type TimeStats } from './results.js';
import { nativePeer } from './native.js';
import { seededNormal } from '../test/helpers.js';

const options = benchOptions('bench');
const SMOKE = options.smoke;
const SIZES = SMOKE ? [1 << 12, 1 << 16] : [1 << 20, 1 << 24];
const LARGEST = SIZES[SIZES.length - 1]!;
/** Repetitions per timing: a smoke run only has to finish. */
const REPS = SMOKE ? 3 : 15;
/** fp32 AdamW reads p, g, m, v and writes p, m, v: 7 × 4 bytes per param. */
const BYTES_PER_PARAM = 28;
const THREADS = availableParallelism();

/**
 * Bandwidth references, in bytes read + written per second:
 * - copy: a Float32Array copy on 1 thread (memcpy). Its writes go to lines it did not read, so the
 *   hardware also reads them first (write-allocate): it moves 12 bytes per 8 counted.
 * - in place: x ← x·s in WebAssembly SIMD over the same shared memory the kernel uses, on 1 thread
 *   and on all threads. Like the AdamW step, it writes back lines it has just read: this is the
 *   roofline the fused step is held to.
 */
async function bandwidth(n: number): Promise<{ copy: number; inPlace1: number; inPlaceAll: number }> {
  const a = new Float32Array(n).fill(1.5);
  const b = new Float32Array(n);
  const copySeconds = (await timeStats(() => b.set(a), REPS)).median;
  const x = allocateInArena(n);
  x.fill(1);
  const memory = arenaOf(x)!.memory;
  const module = new WebAssembly.Module(readFileSync(join(__dirname, '..', 'build', 'wasm', 'roofline.wasm')));
  const scale = (new WebAssembly.Instance(module, { env: { memory } }).exports as { scaleInPlace: (p: number, n: number, s: number) => void }).scaleInPlace;
  const inPlace1 = (await timeStats(() => scale(x.byteOffset, n, 1.0000001), REPS)).median;
  const workerSource = `const { parentPort, workerData } = require('node:worker_threads');
    const scale = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports.scaleInPlace;
    parentPort.on('message', ({ p, n }) => { scale(p, n, 1.0000001); parentPort.postMessage(0); });`;
  const workers = Array.from({ length: THREADS - 1 }, () => new Worker(workerSource, { eval: true, workerData: { module, memory } }));
  const slice = Math.ceil(n / THREADS / 16) * 16;
  const inPlaceAll = (await timeStats(async () => {
    const done = workers.map((w, i) => new Promise((resolve) => {
      w.once('message', resolve);
      const start = (i + 1) * slice;
      w.postMessage({ p: x.byteOffset + start * 4, n: Math.min(n, start + slice) - start });
    }));
    scale(x.byteOffset, slice, 1.0000001);
    await Promise.all(done);
  }, REPS)).median;
  await Promise.all(workers.map((w) => w.terminate()));
  releaseFromArena(x);
  return { copy: (8 * n) / copySeconds, inPlace1: (8 * n) / inPlace1, inPlaceAll: (8 * n) / inPlaceAll };
}

interface PathResult {
  path: string; n: number; threads: number;
  minSeconds: number; medianSeconds: number; maxSeconds: number;
  nsPerParam: number; gbPerSecond: number; ratioToRoofline: number; ratioToCopy: number;
}

/** A seeded fp32 param of `n` elements: in an arena (createParam) or plain Float32Arrays. */
function benchParam(n: number, placement: 'arena' | 'plain'): Param & { grad: Float32Array } {
  const normal = seededNormal(n);
  const init = Float32Array.from({ length: n }, normal);
  const param = placement === 'arena' ? createParam(init) : { data: init, grad: new Float32Array(n) };
  param.grad.set(Float32Array.from({ length: n }, normal));
  return param;
}

/** `threads` is an option of backend 'cpu' only (the others refuse it). */
const optimizerFor = (param: Param, backend: BackendName, threads: number): AdamW =>
  new AdamW([param], backend === 'cpu' ? { backend, threads } : { backend });

function pathResult(path: string, n: number, threads: number, t: TimeStats, roofline: number, copy: number): PathResult {
  const bytesPerSecond = (BYTES_PER_PARAM * n) / t.median;
  return {
    path, n, threads, minSeconds: t.min, medianSeconds: t.median, maxSeconds: t.max, nsPerParam: (t.median / n) * 1e9,
    gbPerSecond: bytesPerSecond / 1e9, ratioToRoofline: bytesPerSecond / roofline, ratioToCopy: bytesPerSecond / copy,
  };
}

async function timePath(path: string, n: number, backend: BackendName, placement: 'arena' | 'plain', threads: number, roofline: number, copy: number): Promise<PathResult> {
  const param = benchParam(n, placement);
  const opt = optimizerFor(param, backend, threads);
  const t = await timeStats(() => opt.step(), backend === 'js' ? Math.min(REPS, 5) : REPS);
  opt.destroy();
  if (placement === 'arena') releaseParam(param);
  return pathResult(path, n, threads, t, roofline, copy);
}

/**
 * Plain Float32Array params against the copy-bandwidth limit and against createParam, on `threads`
 * threads. Each round times a 28 B/param-sized copy (the limit: a plain-array step cannot beat moving
 * its bytes at copy speed), the plain-array step and the createParam step, so the ratios are taken on
 * the same machine state; the figures are medians of the rounds' ratios.
 */
async function plainArrays(n: number, threads: number, rounds: number): Promise<{ n: number; threads: number; rounds: number; ofCopyLimit: TimeStats; overCreateParam: TimeStats; copyLimitSeconds: number }> {
  const plain = benchParam(n, 'plain');
  const arena = benchParam(n, 'arena');
  const plainOpt = optimizerFor(plain, 'cpu', threads);
  const arenaOpt = optimizerFor(arena, 'cpu', threads);
  // 28 bytes per param, counted read + written as the copy bandwidth is: 14 bytes per param copied.
  const copyFrom = new Float32Array((14 * n) / 4).fill(1.5);
  const copyTo = new Float32Array(copyFrom.length);
  const times = await alternatingRounds({ copy: () => copyTo.set(copyFrom), plain: () => plainOpt.step(), createParam: () => arenaOpt.step() }, rounds);
  plainOpt.destroy();
  arenaOpt.destroy();
  releaseParam(arena);
  const ofCopyLimit = timeStatsOf(times.plain.map((t, k) => times.copy[k]! / t));
  const overCreateParam = timeStatsOf(times.plain.map((t, k) => t / times.createParam[k]!));
  return { n, threads, rounds, ofCopyLimit, overCreateParam, copyLimitSeconds: median(times.copy) };
}

/** State bytes per param measured from the process's resident memory around the first step. */
async function measuredStateBytesPerParam(n: number): Promise<number> {
  const param = createParam(n);
  param.grad.fill(0.01);
  const opt = new AdamW([param]);
  const before = process.memoryUsage().rss;
  await opt.step(); // creates exp_avg and exp_avg_sq and touches every page of them
  const after = process.memoryUsage().rss;
  opt.destroy();
  releaseParam(param);
  return (after - before) / n;
}

interface TorchResults { torch: string; threads: number; results: Array<{ n: number; min_s: number; median_s: number; max_s: number }> }

function torchResults(threads: number): TorchResults | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_adamw.py'), String(threads), ...SIZES.map(String)], { encoding: 'utf8' });
  return JSON.parse(out) as TorchResults;
}

async function main(): Promise<void> {
  console.log(`adamw-lab CPU benchmark${SMOKE ? ' (smoke: tiny sizes, timings mean nothing)' : ''}: ${cpus()[0]?.model ?? 'unknown CPU'}, ${THREADS} hardware threads, Node ${process.version}`);
  console.log(`bytes moved per param by one fp32 AdamW step: ${BYTES_PER_PARAM} (read p, g, m, v; write p, m, v)`);
  // Measured first, while no arena pages have been touched yet.
  const stateBytes = await measuredStateBytesPerParam(LARGEST);
  // The same working set as the largest step (p, g, m, v), so caches cannot flatter the references.
  const bw = await bandwidth(4 * LARGEST);
  const gb = (x: number): string => (x / 1e9).toFixed(1);
  console.log(`copy bandwidth (Float32Array.set, ${sizeLabel(4 * LARGEST)} floats, 1 thread): ${gb(bw.copy)} GB/s read + written`);
  console.log(`in-place bandwidth roofline (wasm SIMD x <- x*s over ${sizeLabel(4 * LARGEST)} floats): ${gb(bw.inPlace1)} GB/s on 1 thread, ${gb(bw.inPlaceAll)} GB/s on ${THREADS}`);
  const results: PathResult[] = [];
  for (const n of SIZES) {
    results.push(await timePath('js reference loop', n, 'js', 'plain', 1, bw.inPlace1, bw.copy));
    results.push(await timePath('wasm simd, plain arrays, 1 thread', n, 'cpu', 'plain', 1, bw.inPlace1, bw.copy));
    if (THREADS > 1) results.push(await timePath(`wasm simd, plain arrays, ${THREADS} threads`, n, 'cpu', 'plain', THREADS, bw.inPlaceAll, bw.copy));
    results.push(await timePath('wasm simd, createParam, 1 thread', n, 'cpu', 'arena', 1, bw.inPlace1, bw.copy));
    if (THREADS > 1) results.push(await timePath(`wasm simd, createParam, ${THREADS} threads`, n, 'cpu', 'arena', THREADS, bw.inPlaceAll, bw.copy));
  }
  const torch = SMOKE ? null : torchResults(THREADS);
  const rows = results.map((r) => {
    const t = torch?.results.find((x) => x.n === r.n);
    return { ...r, vsTorch: t ? t.median_s / r.medianSeconds : null };
  });
  const ms = (r: PathResult): string => formatMs({ min: r.minSeconds, median: r.medianSeconds, max: r.maxSeconds });
  console.log('\n| path | params | step: median [min–max] | ns/param | GB/s | of in-place roofline | of copy bandwidth | speed-up vs torch |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.path} | ${sizeLabel(r.n)} | ${ms(r)} | ${r.nsPerParam.toFixed(2)} | ${r.gbPerSecond.toFixed(1)} | ${r.ratioToRoofline.toFixed(2)} | ${r.ratioToCopy.toFixed(2)} | ${r.vsTorch === null ? 'n/a' : `${r.vsTorch.toFixed(2)}x`} |`);
  }
  if (torch) {
    for (const t of torch.results) {
      const bytesPerSecond = (BYTES_PER_PARAM * t.n) / t.median_s;
      console.log(`| torch ${torch.torch} AdamW, ${THREADS} threads | ${sizeLabel(t.n)} | ${formatMs({ min: t.min_s, median: t.median_s, max: t.max_s })} | ${((t.median_s / t.n) * 1e9).toFixed(2)} | ${(bytesPerSecond / 1e9).toFixed(1)} | ${(bytesPerSecond / bw.inPlaceAll).toFixed(2)} | ${(bytesPerSecond / bw.copy).toFixed(2)} | 1.00x |`);
    }
  } else {
    console.log(SMOKE ? 'torch: not run in a smoke run' : 'torch: /usr/bin/python3 cannot import torch (apt-get install python3-torch to compare)');
  }

  // Plain arrays: the goal is at least 0.7 of the copy-bandwidth limit at 16M params.
  const plain = await plainArrays(LARGEST, THREADS, SMOKE ? 3 : 15);
  const ratioText = (t: TimeStats): string => `${t.median.toFixed(2)} [${t.min.toFixed(2)}–${t.max.toFixed(2)}]`;
  console.log(`\nplain Float32Array params, ${sizeLabel(LARGEST)}, ${THREADS} thread(s), ${plain.rounds} alternating rounds (median [min–max] of the rounds' ratios):`);
  console.log(`  of the copy-bandwidth limit (${BYTES_PER_PARAM} B/param at copy speed, ${(plain.copyLimitSeconds * 1e3).toFixed(1)} ms): ${ratioText(plain.ofCopyLimit)} (goal: >= 0.7)`);
  console.log(`  plain-array step / createParam step: ${ratioText(plain.overCreateParam)}`);

  // The native peer: our createParam step / the C++ step on the same size and threads, in alternating rounds.
  const oursByCase = new Map<string, { param: Param; opt: AdamW }>();
  const oursSeconds = async (n: number, threads: number): Promise<number> => {
    let ours = oursByCase.get(`${n}/${threads}`);
    if (!ours) {
      const param = benchParam(n, 'arena');
      ours = { param, opt: optimizerFor(param, 'cpu', threads) };
      oursByCase.set(`${n}/${threads}`, ours);
    }
    const opt = ours.opt;
    return (await timeStats(() => opt.step(), SMOKE ? 3 : 5, 1)).median;
  };
  const native = await nativePeer(SIZES, [...new Set([1, THREADS])], SMOKE ? 3 : 5, SMOKE ? 2 : 9, oursSeconds);
  for (const { param, opt } of oursByCase.values()) {
    opt.destroy();
    releaseParam(param);
  }
  if ('skipped' in native) {
    console.log(`\nnative peer: skipped (${native.skipped})`);
  } else {
    console.log(`\nnative peer: bench/native/adamw.cpp, ${native.compiler}, ${native.flags.join(' ')}; agrees with the wasm step within ${native.check.maxUlps} ulps (${native.check.n} params, ${native.check.steps} steps)`);
    console.log('| native fused AdamW (C++, OpenMP) | params | threads | step: median [min–max] | ns/param | wasm createParam step / native step: median [min–max] of rounds |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of native.results) {
      console.log(`| g++ -O3 -march=native | ${sizeLabel(r.n)} | ${r.threads} | ${formatMs(r)} | ${((r.median / r.n) * 1e9).toFixed(2)} | ${ratioText(r.oursOverNative)} (goal: <= 1.25) |`);
    }
  }

  console.log(`\noptimizer state measured from resident memory: ${stateBytes.toFixed(2)} bytes/param (AdamW stores 8: exp_avg and exp_avg_sq in fp32)`);
  const best = rows.filter((r) => r.n === LARGEST && r.path.includes('createParam')).sort((a, b) => a.medianSeconds - b.medianSeconds)[0]!;
  console.log(`goal at ${sizeLabel(LARGEST)} params: >= 0.8 of the bandwidth limit -> ${best.ratioToRoofline.toFixed(2)} of the in-place roofline, ${best.ratioToCopy.toFixed(2)} of copy (${best.path})` +
    (best.vsTorch === null ? '' : `; >= 3x torch -> ${best.vsTorch.toFixed(2)}x`));
  const written = writeResults(options, 'cpu.json', {
    command: options.command, date: new Date().toISOString(), cpu: cpus()[0]?.model, threads: THREADS, node: process.version, smoke: SMOKE,
    bytesPerParam: BYTES_PER_PARAM, bandwidth: bw, results: rows, plainArrays: plain, native, torch, measuredStateBytesPerParam: stateBytes,
  });
  console.log(`written to ${written}`);
}

void main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
