/**
 * backend 'onnx': the fused step as an ONNX graph generated from TypeScript, run by onnxruntime-node
 * (here on the CPU execution provider: no CUDA on CI). PyTorch trajectories, the §1 bit pattern, the
 * provider report, released sessions, refused variants, and graphs equal to a fresh generation.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AdamW, AdamW8bit, StableAdamW } from '../src/index.js';
import { OnnxBackend } from '../src/backends/onnx/onnx-backend.js';
import { adamGraph } from '../kernels/onnx/generate.js';
import { maxScaledError, REPO_ROOT, runTorchCase, torchCases } from './helpers.js';

describe('onnx backend', () => {
  for (const c of torchCases()) {
    it(`PyTorch trajectory ${c.name}`, async () => {
      const { opt, params, flat } = await runTorchCase(c, { backend: 'onnx' });
      const sd = opt.stateDict();
      flat.forEach((p, flatIndex) => {
        assert.ok(maxScaledError(sd.state[flatIndex]!.exp_avg!, c.finalState[params.indexOf(p)]!.exp_avg).error <= 1e-5);
      });
      opt.destroy();
    });
  }

  it('g = 0.5 gives the fp32 bits 0x3F7FBDCF, as the wasm kernel does; the provider that ran is reported', async () => {
    const p = { data: Float32Array.of(1), grad: Float32Array.of(0.5) };
    const opt = new AdamW([p], { backend: 'onnx' });
    await opt.step();
    assert.equal(new Uint32Array(p.data.buffer)[0], 0x3f7fbdcf);
    assert.match(opt.backendDescription, /^onnx \(onnxruntime-node, (cuda|webgpu|cpu) execution provider/);
    opt.destroy();
  });

  it('sessions are released', async () => {
    const backend = new OnnxBackend('test');
    const p = { data: new Float32Array(8), grad: new Float32Array(8).fill(0.1) };
    const opt = new AdamW([p], { backend: 'cpu' });
    void opt;
    const tasks = [false, true].map((amsgrad) => ({
      plan: { family: 'adam' as const, paramDtype: 'f32' as const, momentDtype: 'f32' as const, kahan: false, stable: false, buffers: [] },
      param: p.data, grad: p.grad,
      buffers: { exp_avg: new Float32Array(8), exp_avg_sq: new Float32Array(8), ...(amsgrad ? { max_exp_avg_sq: new Float32Array(8) } : {}) },
      hp: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, amsgrad, maximize: false, weightDecayMode: 'decoupled' as const },
      step: 1,
    }));
    await backend.step(tasks);
    assert.equal(backend.liveSessions, 2, 'one session per graph (plain and amsgrad)');
    await backend.dispose();
    assert.equal(backend.liveSessions, 0);
  });

  it('variants are refused on onnx by name', () => {
    const p = () => ({ data: new Float32Array(5000), grad: new Float32Array(5000) });
    assert.throws(() => new AdamW8bit([p()], { backend: 'onnx' }), /AdamW8bit: param 0: backend 'onnx' runs fp32 AdamW and Adam so far, not this param's 8-bit update; use backend 'cpu' or 'webgpu' for the variants \(their ONNX graphs are not written yet\)/);
    assert.throws(() => new StableAdamW([p()], { backend: 'onnx' }), /backend 'onnx' runs fp32 AdamW and Adam so far/);
  });

  it('the committed graphs in kernels/onnx/ are what kernels/onnx/generate.ts writes', () => {
    assert.deepEqual(new Uint8Array(readFileSync(join(REPO_ROOT, 'kernels/onnx/adam.onnx'))), adamGraph(false));
    assert.deepEqual(new Uint8Array(readFileSync(join(REPO_ROOT, 'kernels/onnx/adam-amsgrad.onnx'))), adamGraph(true));
  });
});
