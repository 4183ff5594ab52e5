/**
 * GPU benchmark (`npm run bench:gpu [-- --sizes=1M,16M,256M] [-- --smoke] [-- --out=DIR]`). From one run:
 * - the WebGPU device's copy bandwidth (copyBufferToBuffer, bytes read + written per second);
 * - each fused WGSL step with params and grads already on the device (what GPUBuffer-resident models
 *   pay), its bytes per param and GB/s, and the ratio to the copy bandwidth (goal: ≥ 0.8 at 256M);
 * - the same step with host arrays (params and grads up, params down), as `opt.step()` runs it;
 * - backend 'onnx' on the execution provider it picks, and the bytes each step carries across;
 * - torch.optim.AdamW(fused=True) and torch's copy bandwidth on the same GPU, when /usr/bin/python3 has
 *   CUDA torch (bench/torch_adamw_cuda.py).
 * Without a GPU it runs on SwiftShader, chromium's CPU Vulkan driver, with small sizes, and says so:
 * those numbers measure a CPU emulating a GPU. Min, median and max throughout; results go to
 * site/data/bench/gpu.json (or --out=DIR), which the docs' backends page reads. `--smoke` runs every
 * part at 64K params with few repetitions (npm test does this, on SwiftShader).
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { AdamW, AdamW8bit, toBf16, type AdamOptimizer, type OptimizerOptions, type Param } from '../src/index.js';
import { planBytes, planTensor, type VariantOptions } from '../src/core/variants.js';
import { webgpuDevice } from '../src/backends/webgpu/device.js';
import { describeDevice } from '../src/backends/webgpu/describe.js';
import { benchOptions, formatMs, sizeLabel as label, timeStats, writeResults } from './results.js';
import { seededNormal } from '../test/helpers.js';
import { chooseVulkanDriver } from '../scripts/vulkan-driver.js';

const parseSize = (s: string): number => Math.round(parseFloat(s) * (/m$/i.test(s) ? 1 << 20 : /k$/i.test(s) ? 1 << 10 : 1));
const options = benchOptions('bench:gpu');

/** The presets measured: each one's variant options and param dtype. */
const CASES: Array<{ preset: string; options: VariantOptions; dtype: 'fp32' | 'bf16' }> = [
  { preset: 'AdamW (fp32)', options: {}, dtype: 'fp32' },
  { preset: 'AdamW8bit', options: { stateDtype: '8bit' }, dtype: 'fp32' },
  { preset: 'AdamW on bf16 params (Kahan)', options: {}, dtype: 'bf16' },
];

/** AdamW8bit's kernel time over AdamW (fp32)'s, for each size that has both. */
function eightBitOverFp32(rows: ReadonlyArray<{ preset: string; n: number; kernelMedianS: number }>): Array<[number, number]> {
  const at = (preset: string, n: number): number | undefined => rows.find((r) => r.preset === preset && r.n === n)?.kernelMedianS;
  return [...new Set(rows.map((r) => r.n))].flatMap((n) => {
    const fp32 = at('AdamW (fp32)', n), eight = at('AdamW8bit', n);
    return fp32 && eight ? [[n, eight / fp32] as [number, number]] : [];
  });
}

function makeParam(n: number, dtype: 'fp32' | 'bf16'): Param {
  const normal = seededNormal(n);
  const values = Float32Array.from({ length: n }, normal);
  const grad = Float32Array.from({ length: n }, () => normal() * 1e-2);
  return dtype === 'bf16' ? { data: toBf16(values), grad, dtype: 'bf16' } : { data: values, grad };
}

/** Bytes a one-pass step must move per param: param read and written, grad read, state read and written. */
function bytesPerParam(options: VariantOptions, dtype: 'fp32' | 'bf16', n: number): number {
  const plan = planTensor('bench', 'p', options, dtype, n, false);
  const paramBytes = dtype === 'bf16' ? 2 : 4;
  return (2 * paramBytes + 4) + (2 * planBytes(plan)) / n;
}

/** Device-to-device copy bandwidth, bytes read + written per second, over `bytes`. */
async function copyBandwidth(device: GPUDevice, bytes: number): Promise<number> {
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE;
  const a = device.createBuffer({ size: bytes, usage });
  const b = device.createBuffer({ size: bytes, usage });
  const seconds = await timeStats(async () => {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(a, 0, b, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  }, options.smoke ? 3 : 15);
  a.destroy();
  b.destroy();
  return (2 * bytes) / seconds.median;
}

interface TorchCuda { torch: string; device: string; copy_bytes_per_s: number; results: Array<{ n: number; min_s: number; median_s: number; max_s: number }> }

function torchCuda(sizes: number[]): TorchCuda | { unavailable: string } {
  try {
    const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_adamw_cuda.py'), ...sizes.map(String)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out) as TorchCuda;
  } catch (e) {
    const stdout = (e as { stdout?: string }).stdout;
    try {
      return JSON.parse(stdout ?? '') as { unavailable: string };
    } catch {
      return { unavailable: `/usr/bin/python3 could not run bench/torch_adamw_cuda.py (${(e as Error).message.split('\n')[0]})` };
    }
  }
}

async function main(): Promise<void> {
  const chose = chooseVulkanDriver();
  const device = await webgpuDevice('bench:gpu');
  const adapter = describeDevice(device);
  const swiftshader = chose || /swiftshader/i.test(adapter);
  const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
  const sizes = sizesArg ? sizesArg.slice('--sizes='.length).split(',').map(parseSize)
    : options.smoke ? [1 << 16] : swiftshader ? [1 << 20, 1 << 22] : [1 << 20, 1 << 24, 1 << 28];
  const reps = options.smoke ? 3 : swiftshader ? 5 : 15;
  console.log(`WebGPU adapter: ${adapter}${swiftshader ? ' — SwiftShader, a CPU Vulkan driver: these are CPU figures, not a GPU\'s' : ''}`);

  const largest = Math.max(...sizes);
  const copy = await copyBandwidth(device, Math.min(4 * largest, device.limits.maxBufferSize - (device.limits.maxBufferSize % 4)));
  console.log(`copy bandwidth (copyBufferToBuffer, ${label(largest)} floats): ${(copy / 1e9).toFixed(1)} GB/s read + written`);

  const webgpu: Array<{
    preset: string; n: number; bytesPerParam: number; kernelMinS: number; kernelMedianS: number; kernelMaxS: number; kernelGBps: number; ratioToCopy: number;
    hostStepMinS: number; hostStepMedianS: number; hostStepMaxS: number;
  }> = [];
  console.log('\n| WebGPU step | params | bytes/param | GPUBuffer params: median [min–max] | GB/s | of copy bandwidth | with host arrays: median [min–max] |\n|---|---|---|---|---|---|---|');
  for (const n of sizes) {
    for (const c of CASES) {
      // With host arrays, as opt.step() runs on a Param: params and grads up, params down.
      const host = new AdamW([makeParam(n, c.dtype)], { backend: 'webgpu', ...c.options });
      const hostStep = await timeStats(() => host.step(), reps);
      host.destroy();
      // With the model on the GPU (a GpuParam): the kernels alone, nothing crosses the bus.
      const values = makeParam(n, c.dtype);
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
      const data = device.createBuffer({ size: values.data.byteLength, usage });
      const grad = device.createBuffer({ size: values.grad!.byteLength, usage });
      device.queue.writeBuffer(data, 0, values.data as Float32Array<ArrayBuffer>);
      device.queue.writeBuffer(grad, 0, values.grad as Float32Array<ArrayBuffer>);
      const resident = new AdamW([{ data, grad, length: n, dtype: c.dtype === 'bf16' ? 'bf16' : 'fp32', gradDtype: 'fp32' }], { backend: 'webgpu', ...c.options });
      const kernels = await timeStats(() => resident.step(), reps);
      resident.destroy();
      data.destroy();
      grad.destroy();
      const bytes = bytesPerParam(c.options, c.dtype, n);
      const row = {
        preset: c.preset, n, bytesPerParam: bytes, kernelMinS: kernels.min, kernelMedianS: kernels.median, kernelMaxS: kernels.max,
        kernelGBps: (bytes * n) / kernels.median / 1e9, ratioToCopy: (bytes * n) / kernels.median / copy,
        hostStepMinS: hostStep.min, hostStepMedianS: hostStep.median, hostStepMaxS: hostStep.max,
      };
      webgpu.push(row);
      console.log(`| ${c.preset} | ${label(n)} | ${bytes.toFixed(2)} | ${formatMs(kernels)} | ${row.kernelGBps.toFixed(1)} | ${row.ratioToCopy.toFixed(2)} | ${formatMs(hostStep)} |`);
    }
  }

  // The variants issue's speed goal: the 8-bit step within 2× of the fp32 step at 16M params.
  const ratios = eightBitOverFp32(webgpu);
  for (const [n, ratio] of ratios) console.log(`8-bit step / fp32 step, WebGPU, GPUBuffer params, ${label(n)}: ${ratio.toFixed(2)}x (goal at 16M: within 2x)`);

  // ONNX Runtime on its CPU provider, and on the first GPU provider that runs (CUDA, else WebGPU).
  const onnxSizes = sizes.filter((n) => n <= 1 << 24);
  const onnx: Array<{ provider: string; preset: string; n: number; minS: number; medianS: number; maxS: number; bytesAcrossPerParam: number }> = [];
  console.log('\n| ONNX Runtime step | provider | params | bytes across per param | median [min–max] |\n|---|---|---|---|---|');
  for (const executionProviders of [['cpu'], ['cuda', 'webgpu']] as const) {
    for (const n of onnxSizes) {
      for (const [preset, Optimizer, options] of [['AdamW (fp32)', AdamW, {}], ['AdamW8bit', AdamW8bit, { stateDtype: '8bit' }]] as const) {
        const opt: AdamOptimizer = new Optimizer([makeParam(n, 'fp32')], { backend: 'onnx', executionProviders } satisfies OptimizerOptions);
        let seconds: Awaited<ReturnType<typeof timeStats>>;
        try {
          seconds = await timeStats(() => opt.step(), reps);
        } catch (e) {
          console.log(`| ${preset} | ${executionProviders.join(' or ')} | — | — | not run: ${(e as Error).message.slice(0, 160)} |`);
          opt.destroy();
          continue;
        }
        const provider = / ([a-z]+) execution provider/.exec(opt.backendDescription)?.[1] ?? opt.backendDescription;
        const bytes = bytesPerParam(options, 'fp32', n);
        onnx.push({ provider, preset, n, minS: seconds.min, medianS: seconds.median, maxS: seconds.max, bytesAcrossPerParam: bytes });
        console.log(`| ${preset} | ${provider}${provider === 'webgpu' && swiftshader ? ' (SwiftShader)' : ''} | ${label(n)} | ${bytes.toFixed(2)} | ${formatMs(seconds)} |`);
        opt.destroy();
      }
    }
  }

  const torch = swiftshader ? { unavailable: 'no GPU: SwiftShader run' } : torchCuda(sizes);
  if ('results' in torch) {
    console.log(`\n| torch ${torch.torch} AdamW(fused=True), ${torch.device} | params | median [min–max] | GB/s at 28 B/param | of torch's copy bandwidth |\n|---|---|---|---|---|`);
    for (const r of torch.results) {
      const gbps = (28 * r.n) / r.median_s / 1e9;
      console.log(`| | ${label(r.n)} | ${formatMs({ min: r.min_s, median: r.median_s, max: r.max_s })} | ${gbps.toFixed(1)} | ${((gbps * 1e9) / torch.copy_bytes_per_s).toFixed(2)} |`);
    }
    console.log(`torch copy bandwidth: ${(torch.copy_bytes_per_s / 1e9).toFixed(1)} GB/s`);
  } else {
    console.log(`\ntorch: not measured (${torch.unavailable})`);
  }

  const written = writeResults(options, 'gpu.json', {
    command: options.command, date: new Date().toISOString(), adapter, swiftshader, smoke: options.smoke,
    cpu: cpus()[0]?.model ?? 'unknown', node: process.version, copyBytesPerSecond: copy, webgpu, eightBitOverFp32: ratios, onnx, torch,
  });
  console.log(`\nwrote ${written}`);
}

void main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
