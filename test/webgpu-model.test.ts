/**
 * backend 'webgpu' on whole models, as a training loop drives it: many tensors of awkward sizes in two
 * param groups, some without grads on some steps, laid out in slabs that one dispatch updates
 * (counted); slabs laid out again when params are added; windows over the binding-size limit; and
 * GPUBuffer params (GpuParam), bound where they are. Every result is checked against the CPU kernels
 * on host arrays, which test/kernel-parity.test.ts and the oracles hold to the float64 references.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdamOptimizer, AdamW, AdamW8bit, fromBf16, getWebGpuDevice, StableAdamW, toBf16, type AnyParam, type GpuParam, type OptimizerOptions,
  type Param, type ParamGroup, type ParamStateDict,
} from '../src/index.js';
import type { WebGpuStore } from '../src/backends/webgpu/webgpu-store.js';
import { maxScaledError, needsWebGpuAdapter as needsAdapter, seededNormal } from './helpers.js';

type Preset = new (params: AnyParam[] | ParamGroup[], options?: OptimizerOptions) => AdamOptimizer;

/** Sizes around every boundary: under a quad, a unit (256), the 8-bit minimum (4096), several units. */
const SIZES = [1, 3, 17, 255, 256, 257, 1000, 4095, 4096, 5003, 9500, 300];

interface ModelCase {
  name: string;
  Preset: Preset;
  options: OptimizerOptions;
  dtype: 'f32' | 'bf16';
  bf16Grads?: boolean;
  tolerance: number;
  /** Dispatches per step for this model's slabs, without windows. */
  dispatches: number;
}

const CASES: ModelCase[] = [
  // One slab: every tensor in one dispatch.
  { name: 'AdamW (fp32)', Preset: AdamW, options: {}, dtype: 'f32', tolerance: 1e-6, dispatches: 1 },
  // Tensors under 4096 elements keep fp32 state: an adam slab and an 8-bit slab.
  { name: 'AdamW8bit', Preset: AdamW8bit, options: {}, dtype: 'f32', tolerance: 1e-6, dispatches: 2 },
  { name: 'AdamW on bf16 params (Kahan), bf16 grads', Preset: AdamW, options: {}, dtype: 'bf16', bf16Grads: true, tolerance: 1e-2, dispatches: 1 },
  // Moments and sums, per-tensor RMS, params.
  { name: 'StableAdamW (fp32)', Preset: StableAdamW, options: {}, dtype: 'f32', tolerance: 1e-5, dispatches: 3 },
  { name: '8-bit StableAdamW with Kahan shift, bf16 params', Preset: AdamW8bit, options: { stable: true, kahan: true }, dtype: 'bf16', tolerance: 1e-2, dispatches: 3 + 3 },
];

/** A model of SIZES, the same initial values each time it is made. */
function makeModel(c: ModelCase): Param[] {
  const normal = seededNormal(7);
  return SIZES.map((n, k) => {
    const values = Float32Array.from({ length: n }, normal);
    const grad = c.bf16Grads ? new Uint16Array(n) : new Float32Array(n);
    return c.dtype === 'bf16' ? { data: toBf16(values), grad, dtype: 'bf16', name: `layer${k}` } : { data: values, grad, name: `layer${k}` };
  });
}

/** Two groups with their own lr, betas and weight decay. */
const groups = (params: AnyParam[]): ParamGroup[] => [
  { params: params.filter((_, i) => i % 2 === 0), lr: 2e-2, weightDecay: 0.1 },
  { params: params.filter((_, i) => i % 2 === 1), lr: 5e-3, betas: [0.8, 0.99], weightDecay: 0 },
];

/** Step `step`'s grads: seeded, and none for every third param on step 2 (it must stay untouched). */
function setGrads(params: Param[], step: number, bf16Grads: boolean): void {
  const normal = seededNormal(100 + step);
  params.forEach((p, k) => {
    const g = Float32Array.from({ length: p.data.length }, (_, i) => normal() * (i % 7 === 0 ? 1 : 0.05));
    if (step === 2 && k % 3 === 0) {
      p.grad = null;
      return;
    }
    p.grad = bf16Grads ? toBf16(g) : g;
  });
}

const values = (b: ArrayLike<number>): Float32Array => (b instanceof Uint16Array ? fromBf16(b) : Float32Array.from(b));

/** Params and state of `ours` against `cpu`'s: within the tolerance; 8-bit codes within one step. */
function assertSameState(label: string, tolerance: number, ours: ArrayLike<number>[], cpu: ArrayLike<number>[], oursState: Record<number, ParamStateDict>, cpuState: Record<number, ParamStateDict>): void {
  ours.forEach((data, i) => {
    const { error, index } = maxScaledError(values(data), values(cpu[i]!));
    assert.ok(error < tolerance, `${label}: param ${i} (${SIZES[i]} elements) departs from the cpu kernel's by ${error} at ${index}`);
  });
  for (const [i, entry] of Object.entries(cpuState)) {
    assert.equal(oursState[Number(i)]!.step, entry.step, `${label}: param ${i}'s step`);
    for (const [name, buffer] of Object.entries(entry)) {
      if (name === 'step') continue;
      const mine = (oursState[Number(i)] as unknown as Record<string, ArrayLike<number>>)[name]!;
      if (buffer instanceof Uint8Array) {
        const differing = Array.from(mine).filter((c, k) => Math.abs(c - buffer[k]!) > 1).length;
        assert.equal(differing, 0, `${label}: param ${i} ${name}: ${differing} codes differ by more than one step`);
      } else {
        const error = maxScaledError(values(mine), values(buffer as ArrayLike<number>)).error;
        assert.ok(error < Math.max(tolerance, 1e-5), `${label}: param ${i} ${name} departs from the cpu kernel's by ${error}`);
      }
    }
  }
}

const storeOf = (opt: AdamOptimizer): WebGpuStore => (opt as unknown as { store: WebGpuStore }).store;

describe('webgpu backend on a model', () => {
  for (const c of CASES) {
    for (const windowElements of [undefined, 2048]) {
      const windows = windowElements ? `, bound in windows of ${windowElements}` : '';
      it(`${c.name}: ${SIZES.length} tensors in two groups, some without grads, match the cpu kernel; ${c.dispatches} dispatch(es) a step${windows}`, async (t) => {
        if (!(await needsAdapter(t))) return;
        const gpuParams = makeModel(c);
        const cpuParams = makeModel(c);
        const gpu = new c.Preset(groups(gpuParams), { ...c.options, backend: 'webgpu' });
        const cpu = new c.Preset(groups(cpuParams), c.options);
        // Tests reach the store's window limit (a device's maxStorageBufferBindingSize) directly.
        if (windowElements) (storeOf(gpu) as unknown as { options: { maxWindowElements: number } }).options.maxWindowElements = windowElements;
        for (const step of [1, 2, 3]) {
          setGrads(gpuParams, step, c.bf16Grads ?? false);
          setGrads(cpuParams, step, c.bf16Grads ?? false);
          const before = gpuParams.map((p) => p.data.slice());
          await gpu.step();
          await cpu.step();
          gpuParams.forEach((p, k) => {
            if (!p.grad) assert.deepEqual(p.data, before[k], `step ${step}: param ${k} has no grad, yet changed`);
          });
          if (!windowElements) assert.equal(storeOf(gpu).dispatchesLastStep, c.dispatches, `step ${step}: dispatches`);
          else assert.ok(storeOf(gpu).dispatchesLastStep > c.dispatches, `step ${step}: ${storeOf(gpu).dispatchesLastStep} dispatches over windows`);
        }
        assertSameState(c.name, c.tolerance, gpuParams.map((p) => p.data), cpuParams.map((p) => p.data), (await gpu.stateDictAsync()).state, cpu.stateDict().state);
        gpu.destroy();
        cpu.destroy();
        assert.equal(storeOf(gpu).liveBuffers, 0, 'destroy() frees every GPU buffer');
      });
    }
  }

  it('a param group added after some steps joins the slab: the state moves on the GPU, and the trajectory matches the cpu kernel', async (t) => {
    if (!(await needsAdapter(t))) return;
    const c = CASES[1]!; // AdamW8bit: two slabs, both laid out again
    const [gpuParams, cpuParams] = [makeModel(c), makeModel(c)];
    const gpu = new c.Preset(gpuParams.slice(0, 6), { backend: 'webgpu' });
    const cpu = new c.Preset(cpuParams.slice(0, 6));
    for (const step of [1, 2, 3, 4]) {
      if (step === 3) {
        gpu.addParamGroup({ params: gpuParams.slice(6), lr: 3e-3 });
        cpu.addParamGroup({ params: cpuParams.slice(6), lr: 3e-3 });
      }
      setGrads(gpuParams, step, false);
      setGrads(cpuParams, step, false);
      await gpu.step();
      await cpu.step();
    }
    assertSameState('added group', c.tolerance, gpuParams.map((p) => p.data), cpuParams.map((p) => p.data), (await gpu.stateDictAsync()).state, cpu.stateDict().state);
    assert.equal(storeOf(gpu).dispatchesLastStep, 2, 'still one dispatch per slab');
    gpu.destroy();
    cpu.destroy();
  });
});

/** The contents of a GPUBuffer, read back through a staging buffer. */
async function readBuffer(device: GPUDevice, buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

/** A GPUBuffer holding `array`, padded to whole quads, with the usage a model's tensors have. */
function gpuBuffer(device: GPUDevice, array: Float32Array | Uint16Array, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
  const padded = new (array.constructor as Float32ArrayConstructor)(Math.ceil(array.length / 4) * 4);
  padded.set(array);
  const buffer = device.createBuffer({ size: padded.byteLength, usage });
  device.queue.writeBuffer(buffer, 0, padded);
  return buffer;
}

describe('webgpu backend with GPUBuffer params (GpuParam)', () => {
  const GPU_CASES: Array<{ name: string; Preset: Preset; dtype: 'f32' | 'bf16'; gradDtype: 'f32' | 'bf16'; tolerance: number }> = [
    { name: 'AdamW (fp32)', Preset: AdamW, dtype: 'f32', gradDtype: 'f32', tolerance: 1e-6 },
    { name: 'AdamW8bit', Preset: AdamW8bit, dtype: 'f32', gradDtype: 'f32', tolerance: 1e-6 },
    { name: 'AdamW on bf16 params, packed bf16 grads', Preset: AdamW, dtype: 'bf16', gradDtype: 'bf16', tolerance: 1e-2 },
    { name: 'AdamW on bf16 params, fp32 grads', Preset: AdamW, dtype: 'bf16', gradDtype: 'f32', tolerance: 1e-2 },
    { name: 'StableAdamW (fp32)', Preset: StableAdamW, dtype: 'f32', gradDtype: 'f32', tolerance: 1e-5 },
  ];
  for (const c of GPU_CASES) {
    it(`${c.name}: GPUBuffer params beside host params give the cpu kernel's result, with nothing uploaded`, async (t) => {
      if (!(await needsAdapter(t))) return;
      const device = (await getWebGpuDevice()) as GPUDevice;
      const modelCase: ModelCase = { name: c.name, Preset: c.Preset, options: {}, dtype: c.dtype, bf16Grads: c.gradDtype === 'bf16', tolerance: c.tolerance, dispatches: 0 };
      const host = makeModel(modelCase);
      const cpuParams = makeModel(modelCase);
      // Params 0..7 on the GPU, the rest as host arrays, in one optimizer.
      const onGpu = host.slice(0, 8).map((p): GpuParam => ({
        data: gpuBuffer(device, p.data), length: p.data.length, dtype: c.dtype === 'bf16' ? 'bf16' : 'fp32', gradDtype: c.gradDtype === 'bf16' ? 'bf16' : 'fp32', name: p.name,
      }));
      const gpu = new c.Preset(groups([...onGpu, ...host.slice(8)]), { backend: 'webgpu' });
      const cpu = new c.Preset(groups(cpuParams));
      for (const step of [1, 2, 3]) {
        setGrads(host, step, c.gradDtype === 'bf16');
        setGrads(cpuParams, step, c.gradDtype === 'bf16');
        onGpu.forEach((p, k) => {
          if (p.grad) (p.grad as GPUBuffer).destroy();
          p.grad = host[k]!.grad ? gpuBuffer(device, host[k]!.grad) : null;
        });
        await gpu.step();
        await cpu.step();
      }
      const gpuData = await Promise.all(onGpu.map(async (p, k) => {
        const bytes = await readBuffer(device, p.data as GPUBuffer, (p.data as GPUBuffer).size);
        return c.dtype === 'bf16' ? new Uint16Array(bytes, 0, SIZES[k]) : new Float32Array(bytes, 0, SIZES[k]);
      }));
      assertSameState(c.name, c.tolerance, [...gpuData, ...host.slice(8).map((p) => p.data)], cpuParams.map((p) => p.data), (await gpu.stateDictAsync()).state, cpu.stateDict().state);
      gpu.destroy();
      cpu.destroy();
      assert.equal(storeOf(gpu).liveBuffers, 0, 'destroy() frees every GPU buffer it made');
      // The caller's buffers are the caller's: still readable after destroy().
      assert.equal((await readBuffer(device, onGpu[0]!.data as GPUBuffer, 16)).byteLength, 16);
      for (const p of onGpu) [p.data, p.grad].forEach((b) => (b as GPUBuffer | null)?.destroy());
    });
  }

  it('zeroGrad() clears GPUBuffer grads; a swapped grad buffer is bound anew', async (t) => {
    if (!(await needsAdapter(t))) return;
    const device = (await getWebGpuDevice()) as GPUDevice;
    const normal = seededNormal(3);
    const init = Float32Array.from({ length: 1000 }, normal);
    const grads = [1, 2].map(() => Float32Array.from({ length: 1000 }, normal));
    const p: GpuParam = { data: gpuBuffer(device, init), length: 1000, grad: gpuBuffer(device, grads[0]!) };
    const hostP = { data: init.slice(), grad: grads[0]!.slice() };
    const opt = new AdamW([p], { backend: 'webgpu' });
    const cpu = new AdamW([hostP]);
    await opt.step();
    await cpu.step();
    opt.zeroGrad();
    assert.ok(new Float32Array(await readBuffer(device, p.grad as GPUBuffer, 4000)).every((x) => x === 0), 'zeroGrad() leaves zeros');
    p.grad = gpuBuffer(device, grads[1]!);
    hostP.grad.set(grads[1]!);
    await opt.step();
    await cpu.step();
    const error = maxScaledError(new Float32Array(await readBuffer(device, p.data as GPUBuffer, 4000)), hostP.data).error;
    assert.ok(error < 1e-6, `after swapping the grad buffer: ${error}`);
    opt.destroy();
    cpu.destroy();
  });

  it('bad GPUBuffer params are refused by name, before anything changes', async (t) => {
    if (!(await needsAdapter(t))) return;
    const device = (await getWebGpuDevice()) as GPUDevice;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const buffer = (size: number, usage = storage): GPUBuffer => device.createBuffer({ size, usage });
    assert.throws(() => new AdamW([{ data: buffer(400), length: 100, name: 'w' }]),
      /AdamW: param 0 \('w'\): data is a GPUBuffer, which backend 'cpu' cannot update; use backend: 'webgpu'/);
    assert.throws(() => new AdamW([{ data: buffer(396), length: 99, name: 'w' }], { backend: 'webgpu' }),
      /AdamW: param 0 \('w'\): data is a GPUBuffer of 396 bytes; 99 elements of 4 bytes need at least 400/);
    assert.throws(() => new AdamW([{ data: buffer(400, GPUBufferUsage.COPY_DST), length: 100 }], { backend: 'webgpu' }),
      /AdamW: param 0: data is a GPUBuffer without STORAGE usage/);
    assert.throws(() => new AdamW([{ data: buffer(400), length: 0 }], { backend: 'webgpu' }), /length = 0 is invalid/);
    const fp32 = new AdamW([{ data: buffer(400), length: 100, grad: buffer(200), gradDtype: 'bf16' }], { backend: 'webgpu' });
    await assert.rejects(fp32.step(), /AdamW: param 0: gradDtype is 'bf16' but the param is fp32; an fp32 param's grad must be fp32/);
    const mixed = new AdamW([{ data: buffer(400), length: 100, grad: new Float32Array(100) as unknown as GPUBuffer }], { backend: 'webgpu' });
    await assert.rejects(mixed.step(), /AdamW: param 0: grad is Float32Array.*a GPUBuffer param's grad must be a GPUBuffer/);
    assert.throws(() => new AdamW([{ data: new Float32Array(4), grad: new Float32Array(4) }], { device: device }),
      /AdamW: options: device is set with backend 'cpu'/);
    fp32.destroy();
    mixed.destroy();
  });
});
