/**
 * `npm run bench:tfjs`: one optimizer step of adamw-lab/tfjs's AdamW against tf.train.adam on the same
 * variables and gradients, on tfjs's `cpu`, `wasm` and `webgpu` backends, at 1M and 16M params (four
 * variables each). A step is `applyGradients` with precomputed gradients, so only the optimizer is
 * timed; on webgpu a step lasts until the device has finished it (tfjs's queued commands submitted,
 * then `onSubmittedWorkDone`). webgpu runs where Dawn finds an adapter (SwiftShader, a CPU driver,
 * without a GPU), and is skipped, saying why, where it does not. Prints the median with min and max
 * and writes site/data/bench/tfjs.json (or `--out=PATH`).
 *
 * Flags: `--sizes=1048576,16777216`, `--reps=N` (timed steps per case), `--backends=cpu,wasm,webgpu`, `--out=PATH`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { AdamW } from '../src/tfjs/index.js';
import { describeDevice } from '../src/backends/webgpu/describe.js';
import { registerTfjsWebGpuOnDawn } from '../scripts/tfjs-webgpu-node.js';
import { BENCH_RESULTS_DIR, median, secondsOf } from './results.js';

function flag(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const sizes = flag('sizes', `${1 << 20},${1 << 24}`).split(',').map(Number);
const reps = Number(flag('reps', '5'));
const backends = flag('backends', 'cpu,wasm,webgpu').split(',');
const out = flag('out', join(BENCH_RESULTS_DIR, 'tfjs.json'));

interface Timing { medianMs: number; minMs: number; maxMs: number }
interface Row { backend: string; params: number; ours: Timing; tfAdam: Timing; speedup: number }

/** tfjs-backend-webgpu's backend: its device, and its command encoder (tfjs batches dispatches into it). */
interface WebGpuBackendLike { device: GPUDevice; commandEncoder: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void }

/** On webgpu, wait until the device has run everything queued: tfjs's pending commands are submitted first. */
async function finished(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  if (backend.commandEncoder) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  await backend.device.queue.onSubmittedWorkDone();
}

async function timeSteps(step: () => void): Promise<Timing> {
  const run = async (): Promise<void> => {
    step();
    await finished();
  };
  await run();
  await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await secondsOf(run) * 1e3);
  return { medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
}

async function caseOf(backend: string, params: number): Promise<Row> {
  const quarter = params / 4;
  const variables = [0, 1, 2, 3].map((k) => tf.variable(tf.randomNormal([quarter], 0, 1, 'float32', k + 1), true, `bench_${backend}_${params}_${k}`));
  const grads = variables.map((v, k) => ({ name: v.name, tensor: tf.randomNormal([quarter], 0, 1, 'float32', k + 11) }));
  const ours = new AdamW({ lr: 1e-3, weightDecay: 0 });
  const theirs = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  // tfjs's Adam allocates and disposes tensors each step; keep them in a scope so memory stays flat.
  const oursTiming = await timeSteps(() => ours.applyGradients(grads));
  const theirsTiming = await timeSteps(() => tf.tidy(() => theirs.applyGradients(grads)));
  ours.dispose();
  theirs.dispose();
  tf.dispose([...variables, ...grads.map((g) => g.tensor)]);
  return { backend, params, ours: oursTiming, tfAdam: theirsTiming, speedup: theirsTiming.medianMs / oursTiming.medianMs };
}

async function main(): Promise<void> {
  // In Node, the wasm backend reads its .wasm files from the package directory.
  setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  const rows: Row[] = [];
  const skipped: Array<{ backend: string; reason: string }> = [];
  let webgpuDevice: string | undefined;
  for (const backend of backends) {
    if (backend === 'webgpu') {
      const reason = await registerTfjsWebGpuOnDawn().then((device) => {
        webgpuDevice = describeDevice(device);
        console.log(`webgpu: ${webgpuDevice}${/swiftshader/i.test(webgpuDevice) ? ' (SwiftShader runs on the CPU: these are not GPU figures)' : ''}`);
        return '';
      }, (e: Error) => e.message);
      if (reason) {
        skipped.push({ backend, reason });
        console.log(`webgpu skipped: ${reason}`);
        continue;
      }
    }
    if (!(await tf.setBackend(backend))) throw new Error(`bench:tfjs: tfjs backend '${backend}' did not initialize`);
    await tf.ready();
    for (const params of sizes) {
      const row = await caseOf(backend, params);
      rows.push(row);
      const show = (t: Timing): string => `${t.medianMs.toFixed(2)} ms (min ${t.minMs.toFixed(2)}, max ${t.maxMs.toFixed(2)})`;
      console.log(`${backend.padEnd(5)} ${String(params).padStart(9)} params: adamw-lab AdamW ${show(row.ours)}, tf.train.adam ${show(row.tfAdam)}: ${row.speedup.toFixed(2)}x`);
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ generated: new Date().toISOString(), node: process.version, tfjs: tf.version_core, reps, rows, skipped, webgpuDevice }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

void main();
