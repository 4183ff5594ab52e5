/**
 * Run in a fresh process by bench/variants.ts: build one preset of the catalog over N params, take one
 * step, and print the growth of resident memory across that first step (which creates and touches all
 * state), with the exact stateBytes() and the state buffers the preset keeps.
 * Usage: tsx bench/memory-probe.ts LABEL N   (LABEL: a PRESET_CATALOG label)
 */
import { PRESET_CATALOG, type Param } from '../src/index.js';
import { stateBuffers } from '../scripts/site/variant-data.js';

const [label, countText] = process.argv.slice(2);
const n = Number(countText);
const entry = PRESET_CATALOG.find((e) => e.label === label);
if (!entry) throw new Error(`memory-probe: no preset labelled ${label}; labels: ${PRESET_CATALOG.map((e) => e.label).join(', ')}`);
const param: Param = entry.paramDtype === 'bf16'
  ? { data: new Uint16Array(n).fill(0x3f80), dtype: 'bf16', grad: new Float32Array(n).fill(0.01) }
  : { data: new Float32Array(n).fill(1), grad: new Float32Array(n).fill(0.01) };
const paged = entry.className.startsWith('Paged') ? { paged: { budgetBytes: 16 * 1024 * 1024 } } : {};

void (async () => {
  const opt = entry.create([param], paged);
  const before = process.memoryUsage().rss;
  await opt.step();
  const after = process.memoryUsage().rss;
  const buffers = await stateBuffers(opt);
  console.log(JSON.stringify({ preset: label, n, rssGrowth: after - before, stateBytes: opt.stateBytes(), buffers, paging: opt.pagingStats ?? null }));
  opt.destroy();
})();
