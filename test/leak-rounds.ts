/**
 * Child process of test/leaks.test.ts (run with --expose-gc): `rounds` rounds of create, step and
 * destroy on one backend, cycling through plain-array AdamW, AdamW8bit (8-bit state) and PagedAdamW
 * (paged state in `directory`); then one PagedAdamW that is never destroyed. Prints one JSON line:
 * RSS and open file descriptors after the warm-up and at the end, both after a full GC.
 *
 * Usage: node --expose-gc --import tsx test/leak-rounds.ts <backend> <rounds> <directory>
 */
import { readdirSync } from 'node:fs';
import { AdamW, AdamW8bit, PagedAdamW, type BackendName, type OptimizerOptions } from '../src/index.js';
import { seededNormal } from './helpers.js';

const [backend, roundsText, directory] = process.argv.slice(2) as [BackendName, string, string];
const rounds = Number(roundsText);
const WARM_UP = 100;
const LENGTH = 5000; // above 4096, so AdamW8bit keeps 8-bit state
const options: OptimizerOptions = { backend, ...(backend === 'onnx' && { executionProviders: ['cpu'] }) };
const paged = { paged: { budgetBytes: 64 * 1024, directory } };

function usage(): { rssBytes: number; fds: number } {
  global.gc!();
  return { rssBytes: process.memoryUsage().rss, fds: readdirSync('/proc/self/fd').length };
}

async function main(): Promise<void> {
  const normal = seededNormal(7);
  const data = Float32Array.from({ length: LENGTH }, normal);
  const grad = Float32Array.from({ length: LENGTH }, normal);
  let warm = usage();
  for (let round = 0; round < rounds; round++) {
    // Plain Float32Arrays: the CPU backend stages them through its scratch buffer.
    const param = { data: data.slice(), grad };
    const opt = round % 3 === 0 ? new AdamW([param], options) : round % 3 === 1 ? new AdamW8bit([param], options) : new PagedAdamW([param], { ...options, ...paged });
    await opt.step();
    opt.destroy();
    if (round + 1 === WARM_UP) warm = usage();
  }
  const end = usage();
  // Never destroyed: its spill directory must be gone once this process exits.
  const forgotten = new PagedAdamW([{ data: data.slice(), grad }], { ...options, ...paged });
  await forgotten.step();
  console.log(JSON.stringify({ warm, end, liveSpillDirectories: readdirSync(directory).length }));
}

void main();
