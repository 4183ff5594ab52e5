/**
 * Issue #4's parity table: every preset on every backend against the float64 rules, within the
 * preset's error budget (test/parity-cases.ts): every cell runs; no backend refuses a preset.
 * WebGPU runs on chromium's SwiftShader Vulkan driver (.ci/run installs it), skipped without one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESET_CATALOG } from '../src/index.js';
import { needsOnnxWebGpu, needsWebGpuAdapter } from './helpers.js';
import { budgetOf, float64Reference, PARITY_BACKENDS, parityError, paritySeed, runPreset, type ParityColumn } from './parity-cases.js';

describe('parity: preset × backend against the float64 rules', () => {
  for (const entry of PRESET_CATALOG) {
    const reference = float64Reference(entry, paritySeed(entry));
    for (const backend of Object.keys(PARITY_BACKENDS) as ParityColumn[]) {
      const budget = budgetOf(entry);
      it(`${entry.label} (${entry.paramDtype}) on ${backend}: within ${budget} of the update`, async (t) => {
        if (backend === 'webgpu' && !(await needsWebGpuAdapter(t))) return;
        if (backend === 'onnx-webgpu' && !(await needsOnnxWebGpu(t))) return;
        const error = parityError(await runPreset(entry, backend, paritySeed(entry)), reference);
        assert.ok(error <= budget, `error ${error} exceeds the budget ${budget}`);
        t.diagnostic(`error ${error.toExponential(2)}`);
      });
    }
  }
});
