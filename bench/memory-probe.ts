/**
 * Run in a fresh process by bench/variants.ts: build one preset over N params, take one step, and
 * print the growth of resident memory across that first step (which creates and touches all state).
 * Usage: tsx bench/memory-probe.ts PRESET N
 */
import { AdamW, AdamW8bit, AdamW8bitKahan, PagedAdamW, StableAdamW, type AdamOptimizer, type Param } from '../src/index.js';

const [presetName, countText] = process.argv.slice(2);
const n = Number(countText);
const bf16 = presetName === 'AdamW (bf16 params, Kahan)' || presetName === 'AdamW8bitKahan';
const param: Param = bf16
  ? { data: new Uint16Array(n).fill(0x3f80), dtype: 'bf16', grad: new Float32Array(n).fill(0.01) }
  : { data: new Float32Array(n).fill(1), grad: new Float32Array(n).fill(0.01) };
const make: Record<string, () => AdamOptimizer> = {
  AdamW: () => new AdamW([param]),
  AdamW8bit: () => new AdamW8bit([param]),
  PagedAdamW: () => new PagedAdamW([param], { paged: { budgetBytes: 16 * 1024 * 1024 } }),
  StableAdamW: () => new StableAdamW([param]),
  'AdamW (bf16 params, Kahan)': () => new AdamW([param]),
  AdamW8bitKahan: () => new AdamW8bitKahan([param]),
};
void (async () => {
  const opt = make[presetName!]!();
  const before = process.memoryUsage().rss;
  await opt.step();
  const after = process.memoryUsage().rss;
  console.log(JSON.stringify({ preset: presetName, n, rssGrowth: after - before, stateBytes: opt.stateBytes(), paging: opt.pagingStats ?? null }));
  opt.destroy();
})();
