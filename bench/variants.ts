/**
 * Benchmark of the variants (`npm run bench:variants`): step time of the 8-bit step against the fp32
 * step at 16M params (the two alternating round by round, medians), bytes moved per param and the ratio to
 * the in-place bandwidth roofline, and the optimizer state of every preset measured from the resident
 * memory of a fresh process. Writes site/data/bench/variants.json, which the docs' benchmark and
 * variant pages read (committed, so the site shows the last run someone chose to publish).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { AdamW, AdamW8bit, PRESET_CATALOG, createParam, releaseParam, type Param } from '../src/index.js';
import { allocateInArena, arenaOf, releaseFromArena } from '../src/backends/cpu/arena.js';
import { seededNormal } from '../test/helpers.js';
import { BENCH_RESULTS_DIR, median, secondsOf, timeMedian } from './results.js';

const N = 1 << 24;

/** One preset's memory, as bench/memory-probe.ts prints it. */
interface MemoryProbe {
  preset: string;
  n: number;
  rssGrowth: number;
  stateBytes: number;
  buffers: { name: string; dtype: string; length: number }[];
  paging: { peakResidentBytes: number } | null;
}

/** A 16M-param fp32 param with a seeded gradient, in an arena (createParam), so the step runs in place. */
function benchParam(): Param {
  const normal = seededNormal(1);
  const param = createParam(Float32Array.from({ length: N }, normal));
  param.grad.set(Float32Array.from({ length: N }, () => 0.01 * normal()));
  return param;
}

/**
 * The fp32 and 8-bit steps, alternating round by round so both see the same machine (it is shared,
 * and its speed drifts within seconds): the median of each, and the median of the rounds' ratios.
 */
async function pairedStepSeconds(threads: number, rounds = 21, warmup = 2): Promise<{ fp32: number; eight: number; ratio: number }> {
  const params = [benchParam(), benchParam()];
  const fp32 = new AdamW([params[0]!], { threads }), eight = new AdamW8bit([params[1]!], { threads });
  const fp32Times: number[] = [], eightTimes: number[] = [];
  for (let round = 0; round < warmup + rounds; round++) {
    const a = await secondsOf(() => fp32.step()), b = await secondsOf(() => eight.step());
    if (round >= warmup) { fp32Times.push(a); eightTimes.push(b); }
  }
  fp32.destroy();
  eight.destroy();
  params.forEach(releaseParam);
  return { fp32: median(fp32Times), eight: median(eightTimes), ratio: median(eightTimes.map((b, k) => b / fp32Times[k]!)) };
}

/** In-place bandwidth (bytes read + written per second) of x ← x·s over 256 MiB on one thread. */
async function inPlaceBandwidth(): Promise<number> {
  const n = 1 << 26;
  const x = allocateInArena(n).fill(1);
  const module = new WebAssembly.Module(readFileSync(join(__dirname, '..', 'build', 'wasm', 'roofline.wasm')));
  const scale = (new WebAssembly.Instance(module, { env: { memory: arenaOf(x)!.memory } }).exports as { scaleInPlace: (p: number, n: number, s: number) => void }).scaleInPlace;
  const seconds = await timeMedian(() => scale(x.byteOffset, n, 1.0000001), 9, 0);
  releaseFromArena(x);
  return (8 * n) / seconds;
}

const PRESETS = PRESET_CATALOG.map((entry) => entry.label);

async function main(): Promise<void> {
  const threads = availableParallelism();
  console.log(`adamw-lab variants benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${N / 2 ** 20}M params (createParam, in place)`);
  const roofline = await inPlaceBandwidth();
  console.log(`in-place bandwidth roofline (1 thread): ${(roofline / 1e9).toFixed(1)} GB/s`);
  // fp32 moves p, g, m, v in and p, m, v out (28 B); 8-bit moves p, g, two codes in and p, two codes out (16 B).
  const rows: Array<{ preset: string; threads: number; seconds: number; bytesPerParam: number }> = [];
  const ratios: Record<number, number> = {};
  for (const t of [...new Set([1, threads])]) {
    const { fp32, eight, ratio } = await pairedStepSeconds(t);
    rows.push({ preset: 'AdamW (fp32 state)', threads: t, seconds: fp32, bytesPerParam: 28 });
    rows.push({ preset: 'AdamW8bit', threads: t, seconds: eight, bytesPerParam: 16 + 16 / 256 });
    ratios[t] = ratio;
  }
  console.log('\n| preset | threads | median step | ns/param | bytes moved/param | GB/s | of 1-thread roofline |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const gbs = (r.bytesPerParam * N) / r.seconds;
    console.log(`| ${r.preset} | ${r.threads} | ${(r.seconds * 1e3).toFixed(1)} ms | ${((r.seconds / N) * 1e9).toFixed(2)} | ${r.bytesPerParam.toFixed(2)} | ${(gbs / 1e9).toFixed(1)} | ${(gbs / roofline).toFixed(2)} |`);
  }
  for (const [t, ratio] of Object.entries(ratios)) console.log(`8-bit step / fp32 step at 16M params, ${t} thread(s): ${ratio.toFixed(2)}x, median of alternating rounds (goal: within 2x)`);
  const memory = PRESETS.map((preset) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'memory-probe.ts'), preset, String(N)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!) as MemoryProbe;
  });
  console.log('\n| preset | state bytes/param (exact) | measured: resident growth/param | what it stores |');
  console.log('|---|---:|---:|---|');
  for (const m of memory) {
    const stores = m.buffers.map((b) => `${b.name} ${b.dtype}${b.length === m.n ? '' : ` ×${b.length}`}`).join(', ');
    console.log(`| ${m.preset} | ${(m.stateBytes / m.n).toFixed(3)} | ${(m.rssGrowth / m.n).toFixed(3)} | ${stores}${m.paging ? ' (paged, 16 MiB resident)' : ''} |`);
  }
  mkdirSync(BENCH_RESULTS_DIR, { recursive: true });
  writeFileSync(join(BENCH_RESULTS_DIR, 'variants.json'), JSON.stringify({
    date: new Date().toISOString(), cpu: cpus()[0]?.model, node: process.version, params: N,
    rooflineBytesPerSecond: roofline, steps: rows, eightBitOverFp32: ratios, memory, command: 'npm run bench:variants',
  }, null, 2));
  console.log(`written to ${join(BENCH_RESULTS_DIR, 'variants.json')}`);
}

void main();
