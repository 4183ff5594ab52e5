/**
 * Benchmark of the variants (`npm run bench:variants [-- --smoke] [-- --out=DIR]`): step time of the 8-bit step against the fp32
 * step at 16M params (the two alternating round by round, medians), bytes moved per param and the ratio to
 * the in-place bandwidth roofline, and the optimizer state of every preset measured from the resident
 * memory of a fresh process; min, median and max throughout. Writes site/data/bench/variants.json (or
 * --out=DIR), which the docs' benchmark and variant pages read (committed, so the site shows the last
 * run someone chose to publish). `--smoke` runs every part at a tiny size (npm test does this).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { AdamW, AdamW8bit, PRESET_CATALOG, createParam, releaseParam, type Param } from '../src/index.js';
import { allocateInArena, arenaOf, releaseFromArena } from '../src/backends/cpu/arena.js';
import { seededNormal } from '../test/helpers.js';
import { alternatingRounds, benchOptions, formatMs, sizeLabel, timeStats, timeStatsOf, writeResults, type TimeStats } from './results.js';

const options = benchOptions('bench:variants');
/** Params per tensor: 16M, or in a smoke run a size above the 4096 elements below which 8-bit state stays fp32. */
const N = options.smoke ? 1 << 14 : 1 << 24;
const ROUNDS = options.smoke ? 3 : 21;

/** One preset's memory, as bench/memory-probe.ts prints it. */
interface MemoryProbe {
  preset: string;
  n: number;
  rssGrowth: number;
  stateBytes: number;
  buffers: { name: string; dtype: string; length: number }[];
  paging: { peakResidentBytes: number } | null;
}

/** An N-param fp32 param with a seeded gradient, in an arena (createParam), so the step runs in place. */
function benchParam(): Param {
  const normal = seededNormal(1);
  const param = createParam(Float32Array.from({ length: N }, normal));
  param.grad.set(Float32Array.from({ length: N }, () => 0.01 * normal()));
  return param;
}

/**
 * The fp32 and 8-bit steps, alternating round by round so both see the same machine (it is shared,
 * and its speed drifts within seconds): each one's times, and the rounds' ratios (8-bit / fp32).
 */
async function pairedStepSeconds(threads: number): Promise<{ fp32: TimeStats; eight: TimeStats; ratio: TimeStats }> {
  const params = [benchParam(), benchParam()];
  const fp32 = new AdamW([params[0]!], { threads }), eight = new AdamW8bit([params[1]!], { threads });
  const times = await alternatingRounds({ fp32: () => fp32.step(), eight: () => eight.step() }, ROUNDS);
  fp32.destroy();
  eight.destroy();
  params.forEach(releaseParam);
  return { fp32: timeStatsOf(times.fp32), eight: timeStatsOf(times.eight), ratio: timeStatsOf(times.eight.map((b, k) => b / times.fp32[k]!)) };
}

/** In-place bandwidth (bytes read + written per second) of x ← x·s over 256 MiB on one thread. */
async function inPlaceBandwidth(): Promise<number> {
  const n = 4 * N;
  const x = allocateInArena(n).fill(1);
  const module = new WebAssembly.Module(readFileSync(join(__dirname, '..', 'build', 'wasm', 'roofline.wasm')));
  const scale = (new WebAssembly.Instance(module, { env: { memory: arenaOf(x)!.memory } }).exports as { scaleInPlace: (p: number, n: number, s: number) => void }).scaleInPlace;
  const seconds = await timeStats(() => scale(x.byteOffset, n, 1.0000001), options.smoke ? 3 : 9, 0);
  releaseFromArena(x);
  return (8 * n) / seconds.median;
}

const PRESETS = PRESET_CATALOG.map((entry) => entry.label);

async function main(): Promise<void> {
  const threads = availableParallelism();
  console.log(`adamw-lab variants benchmark${options.smoke ? ' (smoke: tiny size, timings mean nothing)' : ''}: ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${sizeLabel(N)} params (createParam, in place)`);
  const roofline = await inPlaceBandwidth();
  console.log(`in-place bandwidth roofline (1 thread): ${(roofline / 1e9).toFixed(1)} GB/s`);
  // fp32 moves p, g, m, v in and p, m, v out (28 B); 8-bit moves p, g, two codes in and p, two codes out (16 B).
  const rows: Array<{ preset: string; threads: number; seconds: TimeStats; bytesPerParam: number }> = [];
  const ratios: Record<number, TimeStats> = {};
  for (const t of [...new Set([1, threads])]) {
    const { fp32, eight, ratio } = await pairedStepSeconds(t);
    rows.push({ preset: 'AdamW (fp32 state)', threads: t, seconds: fp32, bytesPerParam: 28 });
    rows.push({ preset: 'AdamW8bit', threads: t, seconds: eight, bytesPerParam: 16 + 16 / 256 });
    ratios[t] = ratio;
  }
  console.log('\n| preset | threads | step: median [min–max] | ns/param | bytes moved/param | GB/s | of 1-thread roofline |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const gbs = (r.bytesPerParam * N) / r.seconds.median;
    console.log(`| ${r.preset} | ${r.threads} | ${formatMs(r.seconds)} | ${((r.seconds.median / N) * 1e9).toFixed(2)} | ${r.bytesPerParam.toFixed(2)} | ${(gbs / 1e9).toFixed(1)} | ${(gbs / roofline).toFixed(2)} |`);
  }
  for (const [t, ratio] of Object.entries(ratios)) {
    console.log(`8-bit step / fp32 step at ${sizeLabel(N)} params, ${t} thread(s): ${ratio.median.toFixed(2)}x [${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}], median [min–max] of ${ROUNDS} alternating rounds (goal: within 2x)`);
  }
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
  const written = writeResults(options, 'variants.json', {
    command: options.command, date: new Date().toISOString(), cpu: cpus()[0]?.model, node: process.version, smoke: options.smoke, params: N,
    rooflineBytesPerSecond: roofline, steps: rows, eightBitOverFp32: ratios, memory,
  });
  console.log(`written to ${written}`);
}

void main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
