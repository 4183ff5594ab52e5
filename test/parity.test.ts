/**
 * Issue #4's parity table: every preset on every backend against the float64 rules, within the
 * preset's error budget (test/parity-cases.ts), or refused by name where a backend has no kernel yet.
 * WebGPU runs on chromium's SwiftShader Vulkan driver (.ci/run installs it), skipped without one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESET_CATALOG } from '../src/index.js';
import { needsOnnxWebGpu, needsWebGpuAdapter } from './helpers.js';
import { float64Reference, PARITY_BACKENDS, parityError, parityExpectation, paritySeed, runPreset, type ParityColumn } from './parity-cases.js';

describe('parity: preset × backend against the float64 rules', () => {
  for (const entry of PRESET_CATALOG) {
    const reference = float64Reference(entry, paritySeed(entry));
    for (const backend of Object.keys(PARITY_BACKENDS) as ParityColumn[]) {
      const expected = parityExpectation(entry, backend);
      const name = `${entry.label} (${entry.paramDtype}) on ${backend}: ${'budget' in expected ? `within ${expected.budget} of the update` : 'refused'}`;
      it(name, async (t) => {
        if (backend === 'webgpu' && !(await needsWebGpuAdapter(t))) return;
        if (backend === 'onnx-webgpu' && !(await needsOnnxWebGpu(t))) return;
        let error: number | undefined;
        let refusal: string | undefined;
        try {
          error = parityError(await runPreset(entry, backend, paritySeed(entry)), reference);
        } catch (e) {
          refusal = (e as Error).message;
        }
        if ('budget' in expected) {
          assert.equal(refusal, undefined, `refused: ${refusal}`);
          assert.ok(error! <= expected.budget, `error ${error} exceeds the budget ${expected.budget}`);
          t.diagnostic(`error ${error!.toExponential(2)}`);
        } else {
          assert.match(refusal ?? 'it ran', expected.refusal);
        }
      });
    }
  }
});
