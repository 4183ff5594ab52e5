/**
 * CPU benchmark of the fused AdamW step (`npm run bench`). Everything below comes from one run:
 * the bytes each step must move, the copy bandwidth of this machine, the step time of each CPU path
 * at 1M and 16M params (medians), their ratio to the bandwidth limit, the measured memory of the
 * optimizer state, and torch.optim.AdamW on the same machine when Debian's python3-torch is installed.
 * Results are also written to site/data/bench/cpu.json, which the docs' benchmark page reads.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { allocateInArena, arenaOf, releaseFromArena } from '../src/backends/cpu/arena.js';
import { AdamW, createParam, releaseParam, type BackendName, type Param } from '../src/index.js';
import { BENCH_RESULTS_DIR, timeMedian } from './results.js';
import { seededNormal } from '../test/helpers.js';

const SIZES = [1 << 20, 1 << 24];
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
  const copySeconds = await timeMedian(() => b.set(a), 15);
  const x = allocateInArena(n);
  x.fill(1);
  const memory = arenaOf(x)!.memory;
  const module = new WebAssembly.Module(readFileSync(join(__dirname, '..', 'build', 'wasm', 'roofline.wasm')));
  const scale = (new WebAssembly.Instance(module, { env: { memory } }).exports as { scaleInPlace: (p: number, n: number, s: number) => void }).scaleInPlace;
  const inPlace1 = await timeMedian(() => scale(x.byteOffset, n, 1.0000001), 15);
  const workerSource = `const { parentPort, workerData } = require('node:worker_threads');
    const scale = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory } }).exports.scaleInPlace;
    parentPort.on('message', ({ p, n }) => { scale(p, n, 1.0000001); parentPort.postMessage(0); });`;
  const workers = Array.from({ length: THREADS - 1 }, () => new Worker(workerSource, { eval: true, workerData: { module, memory } }));
  const slice = Math.ceil(n / THREADS / 16) * 16;
  const inPlaceAll = await timeMedian(async () => {
    const done = workers.map((w, i) => new Promise((resolve) => {
      w.once('message', resolve);
      const start = (i + 1) * slice;
      w.postMessage({ p: x.byteOffset + start * 4, n: Math.min(n, start + slice) - start });
    }));
    scale(x.byteOffset, slice, 1.0000001);
    await Promise.all(done);
  }, 15);
  await Promise.all(workers.map((w) => w.terminate()));
  releaseFromArena(x);
  return { copy: (8 * n) / copySeconds, inPlace1: (8 * n) / inPlace1, inPlaceAll: (8 * n) / inPlaceAll };
}

interface PathResult { path: string; n: number; medianSeconds: number; nsPerParam: number; gbPerSecond: number; ratioToRoofline: number; ratioToCopy: number; threads: number }

async function timePath(label: string, n: number, backend: BackendName, placement: 'arena' | 'plain', threads: number, roofline: number, copy: number): Promise<PathResult> {
  const normal = seededNormal(n);
  const init = Float32Array.from({ length: n }, normal);
  const param: Param & { grad: Float32Array } = placement === 'arena' ? createParam(init) : { data: init, grad: new Float32Array(n) };
  param.grad.set(Float32Array.from({ length: n }, normal));
  const opt = new AdamW([param], { backend, threads });
  const reps = backend === 'js' ? 5 : 15;
  const seconds = await timeMedian(() => opt.step(), reps);
  opt.destroy();
  if (placement === 'arena') releaseParam(param);
  const gbPerSecond = (BYTES_PER_PARAM * n) / seconds / 1e9;
  return { path: label, n, medianSeconds: seconds, nsPerParam: (seconds / n) * 1e9, gbPerSecond, ratioToRoofline: (gbPerSecond * 1e9) / roofline, ratioToCopy: (gbPerSecond * 1e9) / copy, threads };
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

function torchResults(threads: number): { torch: string; results: Array<{ n: number; median_s: number }> } | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_adamw.py'), String(threads), ...SIZES.map(String)], { encoding: 'utf8' });
  return JSON.parse(out) as { torch: string; results: Array<{ n: number; median_s: number }> };
}

async function main(): Promise<void> {
  console.log(`adamw-lab CPU benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${THREADS} hardware threads, Node ${process.version}`);
  console.log(`bytes moved per param by one fp32 AdamW step: ${BYTES_PER_PARAM} (read p, g, m, v; write p, m, v)`);
  // Measured first, while no arena pages have been touched yet.
  const stateBytes = await measuredStateBytesPerParam(1 << 24);
  // The same working set as the 16M-param step (p, g, m, v: 256 MiB), so caches cannot flatter the references.
  const bw = await bandwidth(1 << 26);
  const gb = (x: number): string => (x / 1e9).toFixed(1);
  console.log(`copy bandwidth (Float32Array.set, 256 MiB -> 256 MiB, 1 thread): ${gb(bw.copy)} GB/s read + written`);
  console.log(`in-place bandwidth roofline (wasm SIMD x <- x*s over 256 MiB): ${gb(bw.inPlace1)} GB/s on 1 thread, ${gb(bw.inPlaceAll)} GB/s on ${THREADS}`);
  const results: PathResult[] = [];
  for (const n of SIZES) {
    results.push(await timePath('js reference loop', n, 'js', 'plain', 1, bw.inPlace1, bw.copy));
    results.push(await timePath('wasm simd, plain arrays (staged)', n, 'cpu', 'plain', 1, bw.inPlace1, bw.copy));
    results.push(await timePath('wasm simd, createParam, 1 thread', n, 'cpu', 'arena', 1, bw.inPlace1, bw.copy));
    if (THREADS > 1) results.push(await timePath(`wasm simd, createParam, ${THREADS} threads`, n, 'cpu', 'arena', THREADS, bw.inPlaceAll, bw.copy));
  }
  const torch = torchResults(THREADS);
  const rows = results.map((r) => {
    const t = torch?.results.find((x) => x.n === r.n);
    return { ...r, vsTorch: t ? t.median_s / r.medianSeconds : null };
  });
  console.log('\n| path | params | median step | ns/param | GB/s | of in-place roofline | of copy bandwidth | speed-up vs torch |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.path} | ${r.n / (1 << 20)}M | ${(r.medianSeconds * 1e3).toFixed(2)} ms | ${r.nsPerParam.toFixed(2)} | ${r.gbPerSecond.toFixed(1)} | ${r.ratioToRoofline.toFixed(2)} | ${r.ratioToCopy.toFixed(2)} | ${r.vsTorch === null ? 'n/a' : `${r.vsTorch.toFixed(2)}x`} |`);
  }
  if (torch) {
    for (const t of torch.results) {
      const bytesPerSecond = (BYTES_PER_PARAM * t.n) / t.median_s;
      console.log(`| torch ${torch.torch} AdamW, ${THREADS} threads | ${t.n / (1 << 20)}M | ${(t.median_s * 1e3).toFixed(2)} ms | ${((t.median_s / t.n) * 1e9).toFixed(2)} | ${(bytesPerSecond / 1e9).toFixed(1)} | ${(bytesPerSecond / bw.inPlaceAll).toFixed(2)} | ${(bytesPerSecond / bw.copy).toFixed(2)} | 1.00x |`);
    }
  } else {
    console.log('torch: /usr/bin/python3 cannot import torch (apt-get install python3-torch to compare)');
  }
  console.log(`\noptimizer state measured from resident memory: ${stateBytes.toFixed(2)} bytes/param (AdamW stores 8: exp_avg and exp_avg_sq in fp32)`);
  const best = rows.filter((r) => r.n === 1 << 24 && r.path.includes('createParam')).sort((a, b) => a.medianSeconds - b.medianSeconds)[0]!;
  console.log(`goal at 16M params: >= 0.8 of the bandwidth limit -> ${best.ratioToRoofline.toFixed(2)} of the in-place roofline, ${best.ratioToCopy.toFixed(2)} of copy (${best.path})` +
    (best.vsTorch === null ? '' : `; >= 3x torch -> ${best.vsTorch.toFixed(2)}x`));
  mkdirSync(BENCH_RESULTS_DIR, { recursive: true });
  writeFileSync(join(BENCH_RESULTS_DIR, 'cpu.json'), JSON.stringify({
    date: new Date().toISOString(), cpu: cpus()[0]?.model, threads: THREADS, node: process.version, bytesPerParam: BYTES_PER_PARAM,
    bandwidth: bw, results: rows, torch, measuredStateBytesPerParam: stateBytes,
    command: 'npm run bench',
  }, null, 2));
  console.log(`written to ${join(BENCH_RESULTS_DIR, 'cpu.json')}`);
}

void main();
