/**
 * backend 'webgpu' on a CPU Vulkan driver (chromium's SwiftShader, which .ci/run installs): the
 * PyTorch trajectories, windows over the binding-size limit for every update family, explicit state
 * reads, checkpoints, buffers freed by destroy() (counted), paged state through device frames, and the
 * error without an adapter. Skipped, saying why, where there is no adapter.
 *
 * Earlier sessions gated this suite because Dawn aborted now and then (segfaults, glibc futex and
 * mutex assertions). The cause was ours: the Dawn instance was garbage-collected while its device was
 * in use. src/backends/webgpu/device.ts now keeps it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AdamW, getWebGpuDevice, PagedAdamW, PagedAdamW8bit, PRESET_CATALOG, toBf16, type Param } from '../src/index.js';
import type { WebGpuPageBackend } from '../src/backends/webgpu/webgpu-pages.js';
import { WebGpuStore } from '../src/backends/webgpu/webgpu-store.js';
import { planTensor } from '../src/core/variants.js';
import {
  assertMatchesCpuKernel, KERNEL_FAMILY_CASES, maxScaledError, needsWebGpuAdapter as needsAdapter, REPO_ROOT, runTorchCase, seededNormal, torchCases,
} from './helpers.js';

describe('webgpu backend', () => {
  for (const c of torchCases()) {
    it(`PyTorch trajectory ${c.name}`, async (t) => {
      if (!(await needsAdapter(t))) return;
      const { opt } = await runTorchCase(c, { backend: 'webgpu' });
      opt.destroy();
    });
  }

  it('windows over maxStorageBufferBindingSize give the CPU result; buffers are freed', async (t) => {
    if (!(await needsAdapter(t))) return;
    const n = 10_000;
    const normal = seededNormal(21);
    const init = Float32Array.from({ length: n }, normal);
    const store = new WebGpuStore('test', { maxWindowElements: 1000 }); // 10 windows
    const param = { data: init.slice(), grad: Float32Array.from({ length: n }, normal) };
    const plan = planTensor('test', 'p', {}, 'fp32', n, true);
    const state = store.create(param, plan);
    const hp = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, amsgrad: true, maximize: false, weightDecayMode: 'decoupled' as const };
    await store.run([{ state, param, hp, step: 1 }]);
    const cpu = { data: init.slice(), grad: param.grad.slice() };
    const reference = new AdamW([cpu], { lr: 1e-2, weightDecay: 0.1, amsgrad: true });
    await reference.step();
    assert.ok(maxScaledError(param.data, cpu.data).error < 1e-6);
    const read = await store.readAsync(state);
    assert.ok(maxScaledError(read.max_exp_avg_sq as Float32Array, reference.stateDict().state[0]!.max_exp_avg_sq!).error < 1e-6);
    assert.ok(store.liveBuffers > 10);
    store.close();
    assert.equal(store.liveBuffers, 0, 'close() destroys every GPU buffer it made');
  });

  it('state reads are explicit: stateDict() refuses, stateDictAsync() and save/load work, resuming bit-identically', async (t) => {
    if (!(await needsAdapter(t))) return;
    const normal = seededNormal(5);
    const make = () => [{ data: Float32Array.from({ length: 300 }, () => 1), grad: new Float32Array(300) }];
    const grads = [1, 2, 3, 4].map(() => Float32Array.from({ length: 300 }, normal));
    const straight = make();
    const straightOpt = new AdamW(straight, { backend: 'webgpu' });
    for (const g of grads) { straight[0]!.grad.set(g); await straightOpt.step(); }
    const first = make();
    const firstOpt = new AdamW(first, { backend: 'webgpu' });
    for (const g of grads.slice(0, 2)) { first[0]!.grad.set(g); await firstOpt.step(); }
    assert.throws(() => firstOpt.stateDict(), /AdamW: stateDict\(\): with backend 'webgpu' the state lives on the GPU; read it with await opt.stateDictAsync\(\)/);
    const file = join(REPO_ROOT, 'build', 'webgpu-test.safetensors');
    await firstOpt.save(file);
    const resumed = [{ data: first[0]!.data.slice(), grad: new Float32Array(300) }];
    const resumedOpt = new AdamW(resumed, { backend: 'webgpu' });
    await resumedOpt.load(file);
    for (const g of grads.slice(2)) { resumed[0]!.grad.set(g); await resumedOpt.step(); }
    assert.deepEqual(Array.from(resumed[0]!.data), Array.from(straight[0]!.data));
    assert.deepEqual(JSON.stringify((await resumedOpt.stateDictAsync()).state), JSON.stringify((await straightOpt.stateDictAsync()).state));
    for (const o of [straightOpt, firstOpt, resumedOpt]) o.destroy();
  });

  // Every update family against the CPU kernels, windowed (10 windows of 1024 elements, a partial last one).
  for (const family of KERNEL_FAMILY_CASES) {
    it(`${family.name}: windowed webgpu steps match the cpu kernel`, async (t) => {
      if (!(await needsAdapter(t))) return;
      const store = new WebGpuStore('test', { maxWindowElements: 1024 });
      await assertMatchesCpuKernel(family, (param, plan) => {
        const state = store.create(param, plan);
        return { step: (hp, step) => store.run([{ state, param, hp, step }]), state: () => store.readAsync(state) };
      });
      store.close();
      assert.equal(store.liveBuffers, 0, 'close() destroys every GPU buffer it made');
    });
  }

  it('destroy() frees every GPU buffer an optimizer made, for every preset that runs on webgpu (counted)', async (t) => {
    if (!(await needsAdapter(t))) return;
    for (const entry of PRESET_CATALOG.filter((e) => !e.className.startsWith('Paged'))) {
      const n = 5000;
      const param: Param = entry.paramDtype === 'bf16'
        ? { data: toBf16(Float32Array.from({ length: n }, (_, i) => Math.sin(i))), grad: new Float32Array(n).fill(0.1), dtype: 'bf16' }
        : { data: Float32Array.from({ length: n }, (_, i) => Math.sin(i)), grad: new Float32Array(n).fill(0.1) };
      const opt = entry.create([param], { backend: 'webgpu' });
      await opt.step();
      await opt.stateDictAsync();
      const store = (opt as unknown as { store: WebGpuStore }).store;
      assert.ok(store.liveBuffers >= 5, `${entry.label}: ${store.liveBuffers} buffers counted while alive`);
      opt.destroy();
      assert.equal(store.liveBuffers, 0, `${entry.label}: ${store.liveBuffers} GPU buffers outlive destroy()`);
    }
  });

  for (const [Preset, options] of [[PagedAdamW, {}], [PagedAdamW8bit, {}], [PagedAdamW, { kahan: true }]] as const) {
    const bf16 = 'kahan' in options;
    it(`${Preset.name}${bf16 ? ' on bf16 params' : ''} on webgpu: pages stream through the device under the budget, bit-identical to resident webgpu state`, async (t) => {
      if (!(await needsAdapter(t))) return;
      // Pages of 4096 elements: tensors of several pages and a shorter last one, and a small one.
      const sizes = [10_000, 300, 8192, 5003];
      const model = (): Param[] => {
        const normal = seededNormal(11);
        return sizes.map((n) => {
          const values = Float32Array.from({ length: n }, normal);
          return bf16 ? { data: toBf16(values), grad: new Float32Array(n), dtype: 'bf16' } : { data: values, grad: new Float32Array(n) };
        });
      };
      const [pagedParams, residentParams] = [model(), model()];
      const perElement = Preset === PagedAdamW8bit ? 2 : bf16 ? 6 : 8;
      const paged = new Preset(pagedParams, { ...options, backend: 'webgpu', paged: { budgetBytes: 4 * 4096 * perElement, pageBytes: 4096 * perElement } });
      const resident = new Preset(residentParams, { ...options, backend: 'webgpu', paged: false });
      for (const step of [1, 2, 3]) {
        const normal = seededNormal(50 + step);
        for (const [k, n] of sizes.entries()) {
          const g = Float32Array.from({ length: n }, () => normal() * 0.1);
          (pagedParams[k]!.grad as Float32Array).set(g);
          (residentParams[k]!.grad as Float32Array).set(g);
        }
        await paged.step();
        await resident.step();
      }
      pagedParams.forEach((p, k) => assert.deepEqual(p.data, residentParams[k]!.data, `param ${k}`));
      assert.equal(JSON.stringify((await paged.stateDictAsync()).state), JSON.stringify((await resident.stateDictAsync()).state));
      assert.ok(paged.pagingStats!.pagesRead > sizes.length, `${paged.pagingStats!.pagesRead} pages read`);
      assert.match(paged.backendDescription, /webgpu \(.*\), paged through one device frame per kernel/);
      const backend = (paged as unknown as { backend: WebGpuPageBackend }).backend;
      assert.ok(backend.liveBuffers > 0);
      paged.destroy();
      resident.destroy();
      assert.equal(backend.liveBuffers, 0, 'destroy() frees the device frames');
    });
  }

  it('paged webgpu state refuses GPUBuffer params, which have no host pages', async (t) => {
    if (!(await needsAdapter(t))) return;
    const device = (await getWebGpuDevice()) as GPUDevice;
    const data = device.createBuffer({ size: 400, usage: GPUBufferUsage.STORAGE });
    assert.throws(() => new PagedAdamW([{ data, length: 100 }], { backend: 'webgpu' }),
      /PagedAdamW: param 0: data is a GPUBuffer, which backend 'webgpu \(paged\)' cannot update; paged state streams host pages/);
    data.destroy();
  });
});

describe('webgpu without an adapter', () => {
  it('the first step rejects, saying how to get one, and nothing is updated', () => {
    const script = `
      const { AdamW } = require('adamw-lab');
      const p = { data: new Float32Array([1]), grad: new Float32Array([1]) };
      new AdamW([p], { backend: 'webgpu' }).step().then(
        () => { console.log('stepped'); process.exit(0); },
        (e) => { console.log(JSON.stringify({ message: e.message, data: p.data[0] })); process.exit(0); });`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' } });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { message: string; data: number };
    assert.match(result.message, /AdamW: backend 'webgpu': no WebGPU adapter was found; in Node, install the `webgpu` package \(Dawn\) and a Vulkan driver/);
    assert.equal(result.data, 1);
  });
});
