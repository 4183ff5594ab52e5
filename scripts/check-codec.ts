/**
 * `npm run check:codec`: the arithmetic codec of the 8-bit dynamic maps (kernels/wasm/dynamic-map-codec.ts,
 * run as WebAssembly) against the lookup tables the step kernel uses (src/backends/quantization-tables.ts),
 * exhaustively: the value of each of the 256 codes of both maps, and the code of every float32 in
 * [−1, 1] (2,130,706,434 bit patterns, ±0 included) in both maps. Worker threads take chunks of bit
 * patterns in turn; prints throughput, then the values checked and the mismatches, and exits 1 on any.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { lookupCode, positionInBucket, quantizationTables } from '../src/backends/quantization-tables.js';
import { codecInstance, codecModule, UNIT_RANGES } from './codec-wasm.js';

/** Bit patterns per chunk a worker encodes and compares (a multiple of 4). */
const CHUNK = 1 << 22;

// Self-contained: its source, with lookupCode's and positionInBucket's, runs in each worker.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const positionInBucket = ${positionInBucket.toString()};
const lookupCode = ${lookupCode.toString()};
const { module, tables, chunk } = workerData;
const memory = new WebAssembly.Memory({ initial: 2 + Math.ceil(chunk / 65536), maximum: 65536, shared: true });
const codec = new WebAssembly.Instance(module, { env: { memory } }).exports;
const out = new Uint8Array(memory.buffer, 65536, chunk);
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
parentPort.on('message', ({ signed, first, count }) => {
  const table = signed ? tables.signed : tables.unsigned;
  codec.encodeBitRange(first, 65536, (count + 3) & ~3, signed ? 1 : 0);
  let mismatches = 0;
  const examples = [];
  for (let i = 0; i < count; i++) {
    const bits = (first + i) >>> 0;
    const want = lookupCode(table, bits);
    if (out[i] !== want) {
      mismatches++;
      u32[0] = bits;
      if (examples.length < 5) examples.push({ bits, x: f32[0], got: out[i], want });
    }
  }
  parentPort.postMessage({ count, mismatches, examples });
});
`;

interface ChunkResult {
  count: number;
  mismatches: number;
  examples: Array<{ bits: number; x: number; got: number; want: number }>;
}

/** The 256 codes of both maps, decoded by the codec, against the tables' values (bit for bit). */
function checkCodes(module: WebAssembly.Module): { checked: number; mismatches: number } {
  const { codec, memory } = codecInstance(module, 2048);
  const codes = new Uint8Array(memory.buffer, 65536, 256);
  codes.forEach((_, i) => (codes[i] = i));
  const values = new Float32Array(memory.buffer, 65536 + 256, 256);
  const tables = quantizationTables();
  let mismatches = 0;
  for (const signed of [true, false]) {
    codec.decodeCodes(65536, 65536 + 256, 256, signed ? 1 : 0);
    const want = signed ? tables.signed.values : tables.unsigned.values;
    for (let c = 0; c < 256; c++) {
      if (!Object.is(values[c], want[c])) {
        mismatches++;
        console.log(`  ${signed ? 'signed' : 'unsigned'} code ${c}: codec ${values[c]}, table ${want[c]}`);
      }
    }
  }
  return { checked: 512, mismatches };
}

async function main(): Promise<void> {
  const module = codecModule();
  const codes = checkCodes(module);
  console.log(`decode: ${codes.checked} codes (256 per map) checked, ${codes.mismatches} mismatches`);

  const tables = quantizationTables();
  const jobs: Array<{ signed: boolean; first: number; count: number }> = [];
  for (const signed of [true, false]) {
    for (const [first, last] of UNIT_RANGES) {
      for (let at = first; at <= last; at += CHUNK) jobs.push({ signed, first: at, count: Math.min(CHUNK, last - at + 1) });
    }
  }
  const total = jobs.reduce((sum, j) => sum + j.count, 0);
  const threads = Math.max(1, availableParallelism());
  console.log(`encode: ${total.toLocaleString('en-US')} float32s in [-1, 1] (both maps), ${jobs.length} chunks on ${threads} worker threads`);
  const started = process.hrtime.bigint();
  let next = 0, done = 0, mismatches = 0, reported = 0;
  const examples: ChunkResult['examples'] = [];
  await Promise.all(Array.from({ length: threads }, () => new Promise<void>((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, tables, chunk: CHUNK } });
    const send = (): void => {
      const job = jobs[next++];
      if (job) worker.postMessage(job);
      else void worker.terminate().then(() => resolve());
    };
    worker.on('message', (result: ChunkResult) => {
      done += result.count;
      mismatches += result.mismatches;
      examples.push(...result.examples.slice(0, 5 - examples.length));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (done / total >= reported + 0.05 || done === total) {
        reported = Math.floor((done / total) * 20) / 20;
        console.log(`  ${((done / total) * 100).toFixed(0)}%: ${done.toLocaleString('en-US')} checked, ${mismatches} mismatches, ${(done / seconds / 1e6).toFixed(1)} M/s`);
      }
      send();
    });
    worker.once('error', reject);
    send();
  })));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`encode: ${done.toLocaleString('en-US')} float32s checked in ${seconds.toFixed(0)} s (${(done / seconds / 1e6).toFixed(1)} M/s), ${mismatches} mismatches`);
  for (const e of examples) console.log(`  x = ${e.x} (0x${e.bits.toString(16)}): codec ${e.got}, table ${e.want}`);
  if (codes.mismatches + mismatches > 0) process.exitCode = 1;
}

void main();
