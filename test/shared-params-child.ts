/**
 * The child process of test/shared-params.test.ts: Dawn crashed the process (SIGSEGV) on params in
 * shared memory, so each backend's runs happen here, where a crash fails one test instead of the
 * runner. Given a backend on argv, it steps every case twice, once on params in shared memory
 * (createParam, or SharedArrayBuffer views for bf16) and once on plain arrays, and prints the final
 * params, `stateDictAsync()` and the `save()` file of each run as JSON for the parent to compare.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW, AdamW8bit, PagedAdamW, PagedAdamW8bit, StableAdamW, createParam, toBf16,
  type AdamOptimizer, type OptimizerOptions, type Param,
} from '../src/index.js';
import { chooseVulkanDriver } from '../scripts/vulkan-driver.js';
import { seededNormal } from './helpers.js';

/** Tensor lengths: odd, not multiples of 4 or 256, one over bitsandbytes' 4096 (8-bit state). */
export const SHARED_PARAM_SIZES = [3, 257, 1027, 5001];
/**
 * Resident AdamW also steps a tensor over 4 MiB and over one ONNX window (2^20 elements), so its
 * upload to the GPU takes several pieces of the staging buffer and its ONNX step several windows
 * (paged state already comes in small pages).
 */
export const LARGE_SHARED_PARAM = 1_100_001;
export const sizesFor = (preset: SharedParamPreset, paged: boolean): number[] =>
  (preset === 'AdamW' && !paged ? [...SHARED_PARAM_SIZES, LARGE_SHARED_PARAM] : SHARED_PARAM_SIZES);
export const SHARED_PARAM_STEPS = 3;
export const SHARED_PARAM_HP = { lr: 1e-2, betas: [0.9, 0.99] as [number, number], eps: 1e-8, weightDecay: 0.1 };
/** Small pages, so the paged runs cross several pages and a tensor's last page is partial. */
const PAGED = { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 };

/** A backend under test: its options, and whether its state is paged. */
export interface SharedParamBackend { label: string; options: OptimizerOptions; paged: boolean; gpu: boolean }
export const SHARED_PARAM_BACKENDS: SharedParamBackend[] = [
  { label: 'webgpu', options: { backend: 'webgpu' }, paged: false, gpu: true },
  { label: 'paged webgpu', options: { backend: 'webgpu' }, paged: true, gpu: true },
  { label: 'onnx (cpu provider)', options: { backend: 'onnx', executionProviders: ['cpu'] }, paged: false, gpu: false },
  { label: 'paged onnx (cpu provider)', options: { backend: 'onnx', executionProviders: ['cpu'] }, paged: true, gpu: false },
];

/** The presets stepped on each backend; 'bf16' is AdamW on bf16 params (optimi's Kahan rule). */
export type SharedParamPreset = 'AdamW' | 'AdamW8bit' | 'StableAdamW' | 'bf16';
export const presetsFor = (paged: boolean): SharedParamPreset[] => (paged ? ['AdamW', 'AdamW8bit'] : ['AdamW', 'AdamW8bit', 'StableAdamW', 'bf16']);

/** The seeded problem of one tensor: initial values and one gradient per step. */
export function sharedParamProblem(length: number, seed: number): { init: Float32Array; grads: Float32Array[] } {
  const normal = seededNormal(seed);
  const init = Float32Array.from({ length }, normal);
  const grads = Array.from({ length: SHARED_PARAM_STEPS }, () => Float32Array.from({ length }, (_, i) => normal() * (i % 7 === 0 ? 1 : 0.05)));
  return { init, grads };
}

/** What one run leaves: params as base64 bytes; state buffers and the checkpoint as their SHA-256 (the step as a number). */
export interface SharedParamRun { params: string[]; state: Array<Record<string, string>>; checkpointSha256: string }

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A param of `init` for `preset`: in shared memory, or in plain arrays. */
function makeParam(preset: SharedParamPreset, init: Float32Array, shared: boolean): Param {
  if (preset === 'bf16') {
    // No createParam for bf16: a Uint16Array over a SharedArrayBuffer is the same kind of view.
    const data = shared ? new Uint16Array(new SharedArrayBuffer(2 * init.length)) : new Uint16Array(init.length);
    data.set(toBf16(init));
    const grad = shared ? new Float32Array(new SharedArrayBuffer(4 * init.length)) : new Float32Array(init.length);
    return { data, grad, dtype: 'bf16' };
  }
  return shared ? createParam(init) : { data: init.slice(), grad: new Float32Array(init.length) };
}

function optimizer(preset: SharedParamPreset, paged: boolean, params: Param[], options: OptimizerOptions): AdamOptimizer {
  const all = { ...options, ...SHARED_PARAM_HP };
  if (paged) return preset === 'AdamW8bit' ? new PagedAdamW8bit(params, { ...all, paged: PAGED }) : new PagedAdamW(params, { ...all, paged: PAGED });
  if (preset === 'AdamW8bit') return new AdamW8bit(params, all);
  if (preset === 'StableAdamW') return new StableAdamW(params, all);
  return new AdamW(params, all);
}

async function run(backend: SharedParamBackend, preset: SharedParamPreset, shared: boolean, dir: string): Promise<SharedParamRun> {
  const problems = sizesFor(preset, backend.paged).map((n, k) => sharedParamProblem(n, 100 + k));
  const params = problems.map(({ init }) => makeParam(preset, init, shared));
  const opt = optimizer(preset, backend.paged, params, backend.options);
  try {
    for (let t = 0; t < SHARED_PARAM_STEPS; t++) {
      params.forEach((p, k) => (p.grad as Float32Array).set(problems[k]!.grads[t]!));
      await opt.step();
    }
    const file = join(dir, `${preset}-${shared ? 'shared' : 'plain'}.safetensors`);
    await opt.save(file);
    const { state } = await opt.stateDictAsync();
    return {
      params: params.map((p) => bytesOf(p.data as ArrayBufferView).toString('base64')),
      state: params.map((_, k) => Object.fromEntries(Object.entries(state[k]!).map(([name, v]) => [name, typeof v === 'number' ? String(v) : sha256(bytesOf(v as ArrayBufferView))]))),
      checkpointSha256: sha256(readFileSync(file)),
    };
  } finally {
    opt.destroy();
  }
}

if (process.argv[2] === '--child') {
  chooseVulkanDriver();
  const backend = SHARED_PARAM_BACKENDS.find((b) => b.label === process.argv[3])!;
  const dir = mkdtempSync(join(tmpdir(), 'adamw-lab-shared-params-'));
  void (async () => {
    const out: Record<string, { shared: SharedParamRun; plain: SharedParamRun }> = {};
    try {
      for (const preset of presetsFor(backend.paged)) {
        out[preset] = { shared: await run(backend, preset, true, dir), plain: await run(backend, preset, false, dir) };
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    process.stdout.write(JSON.stringify(out));
  })();
}
