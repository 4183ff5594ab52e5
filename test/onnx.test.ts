/**
 * backend 'onnx': each update family's fused step as an ONNX graph generated from TypeScript, run by
 * onnxruntime-node (here on the CPU execution provider: no CUDA on CI). PyTorch trajectories, the AdamW
 * fp32 bit pattern (0x3F7FBDCF), every family against the cpu kernel over windows with a padded last 8-bit block, the
 * quantization thresholds against bitsandbytes' dQuantize, in-place outputs, sessions released by
 * destroy() (counted), and graphs equal to a fresh generation.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AdamW, PRESET_CATALOG, quantize, quantizeSigned, toBf16, type Param } from '../src/index.js';
import { graphConfigOf, OnnxBackend } from '../src/backends/onnx/onnx-backend.js';
import { onnxGraphName } from '../src/backends/onnx/graph-signature.js';
import { planTensor, validateVariant } from '../src/core/variants.js';
import { ONNX_GRAPHS } from '../src/backends/onnx/graphs.generated.js';
import { quantizationThresholds, thresholdCode } from '../src/backends/quantization-tables.js';
import { quantizationMaps } from '../src/core/quantization-maps.js';
import { plainBuffer } from '../src/backends/js.js';
import { generateGraphs } from '../kernels/onnx/generate.js';
import { assertMatchesCpuKernel, KERNEL_FAMILY_CASES, maxScaledError, REPO_ROOT, runTorchCase, seededRandom, torchCases } from './helpers.js';

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

  // Every family over windows of 1024 elements: 10 windows, the last of 284 (a padded 8-bit block).
  for (const family of KERNEL_FAMILY_CASES) {
    it(`${family.name}: windowed onnx steps match the cpu kernel`, async () => {
      const backend = new OnnxBackend('test', { chunkElements: 1024 });
      await assertMatchesCpuKernel(family, (param, plan) => {
        const buffers = Object.fromEntries(plan.buffers.map((b) => [b.name, plainBuffer(b.dtype, b.length)]));
        return {
          step: (hp, step) => backend.step([{ plan, param: param.data, grad: param.grad!, buffers, hp, step }]),
          state: () => Promise.resolve(buffers),
        };
      });
      await backend.dispose();
      assert.equal(backend.liveSessions, 0);
    });
  }

  it("the threshold search the 8-bit graphs quantize with is bitsandbytes' dQuantize, sign rule included", () => {
    const random = seededRandom(8);
    for (const signed of [true, false]) {
      const map = signed ? quantizationMaps().signed : quantizationMaps().unsigned;
      const table = quantizationThresholds(map, signed);
      const codeOf = (x: number): number => (signed ? quantizeSigned(map, x) : quantize(map, x));
      // Every threshold and its float32 neighbours, the map's own values, ±0, ±1 and beyond, and random x of every scale.
      const xs: number[] = [0, -0, 1, -1, 1.5, -1.5, ...map];
      const bits = new Uint32Array(1);
      const asFloat = new Float32Array(bits.buffer);
      for (const t of table.thresholds) {
        asFloat[0] = t;
        for (const delta of [-1, 1]) {
          bits[0] = bits[0]! + delta;
          xs.push(asFloat[0]);
          asFloat[0] = t;
        }
        xs.push(t);
      }
      for (let i = 0; i < 50_000; i++) xs.push(Math.fround((random() * 2 - 1) * 10 ** (-9 * random())));
      const wrong = xs.filter((x) => !Number.isNaN(x) && thresholdCode(table, x) !== codeOf(x));
      assert.deepEqual(wrong, [], `${signed ? 'signed' : 'unsigned'} map: codes differ at ${wrong.slice(0, 5).join(', ')}`);
    }
  });

  it('every tensor plan the variant options can make has its ONNX graph (StableAdamW passes included)', () => {
    let plans = 0;
    for (const stateDtype of ['fp32', '8bit'] as const) {
      for (const kahan of [undefined, false, true]) {
        for (const stable of [false, true]) {
          for (const amsgrad of [false, true]) {
            for (const dtype of ['fp32', 'bf16'] as const) {
              // Under and over bitsandbytes' 4096 minimum: 8-bit options fall back to fp32 state below it.
              for (const length of [3000, 9500]) {
                let plan;
                try {
                  validateVariant('test', { stateDtype, kahan, stable }, 'decoupled', amsgrad);
                  plan = planTensor('test', 'p', { stateDtype, kahan, stable }, dtype, length, amsgrad);
                } catch {
                  continue; // a refused combination: no graph needed
                }
                plans++;
                const configs = [graphConfigOf(plan, amsgrad), ...(stable ? [graphConfigOf(plan, amsgrad, true)] : [])];
                for (const config of configs) {
                  const name = onnxGraphName(config);
                  assert.ok(name in ONNX_GRAPHS, `${JSON.stringify({ stateDtype, kahan, stable, amsgrad, dtype, length })} needs graph '${name}'`);
                }
              }
            }
          }
        }
      }
    }
    assert.ok(plans >= 20, `only ${plans} plans enumerated`);
  });

  it('in-place outputs are declared only where the graph reads the input before writing the output', () => {
    for (const [name, { signature }] of Object.entries(ONNX_GRAPHS)) {
      for (const output of signature.outputs.filter((o) => o.updates)) {
        const expected = !(name.endsWith('kahan') && name.startsWith('blockwise8bit') && output.updates === 'param');
        assert.equal(output.inPlace, expected, `${name}: ${output.name}`);
      }
    }
  });

  it('destroy() releases every ONNX Runtime session, for every preset (counted)', async () => {
    for (const entry of PRESET_CATALOG) {
      const n = 5000;
      const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const param: Param = entry.paramDtype === 'bf16'
        ? { data: toBf16(values), grad: new Float32Array(n).fill(0.1), dtype: 'bf16' }
        : { data: values, grad: new Float32Array(n).fill(0.1) };
      const opt = entry.create([param], { backend: 'onnx' });
      await opt.step();
      const backend = (opt as unknown as { backend: OnnxBackend }).backend;
      assert.ok(backend.liveSessions >= 1, `${entry.label}: no session counted while alive`);
      opt.destroy();
      await backend.disposal;
      assert.equal(backend.liveSessions, 0, `${entry.label}: ${backend.liveSessions} sessions outlive destroy()`);
    }
  });

  it('the committed graphs in kernels/onnx/ are what kernels/onnx/generate.ts writes, and nothing else', () => {
    const graphs = generateGraphs();
    const dir = join(REPO_ROOT, 'kernels/onnx');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort(), graphs.map((g) => `${g.name}.onnx`).sort());
    for (const g of graphs) assert.deepEqual(new Uint8Array(readFileSync(join(dir, `${g.name}.onnx`))), g.bytes, g.name);
  });
});
