/**
 * Issue #4's parity table: every preset on every backend against the float64 rules, within the
 * preset's error budget (test/parity-cases.ts): every cell runs; no backend refuses a preset.
 * WebGPU runs on chromium's SwiftShader Vulkan driver (.ci/run installs it), skipped without one. The
 * WebGPU and ONNX columns run again on params in shared memory (createParam).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESET_CATALOG } from '../src/index.js';
import { needsOnnxWebGpu, needsWebGpuAdapter } from './helpers.js';
import {
  budgetOf, float64Reference, PARITY_BACKENDS, parityError, paritySeed, runPreset, SHARED_PLACEMENT_COLUMNS, type ParityColumn, type ParityPlacement,
} from './parity-cases.js';

describe('parity: preset × backend against the float64 rules', () => {
  for (const entry of PRESET_CATALOG) {
    const reference = float64Reference(entry, paritySeed(entry));
    const cells: Array<{ backend: ParityColumn; placement: ParityPlacement }> = (Object.keys(PARITY_BACKENDS) as ParityColumn[]).flatMap((backend) => [
      { backend, placement: 'plain' as const },
      ...(SHARED_PLACEMENT_COLUMNS.includes(backend) ? [{ backend, placement: 'shared' as const }] : []),
    ]);
    for (const { backend, placement } of cells) {
      const budget = budgetOf(entry);
      const where = placement === 'shared' ? ', params in shared memory' : '';
      it(`${entry.label} (${entry.paramDtype}) on ${backend}${where}: within ${budget} of the update`, async (t) => {
        if (backend === 'webgpu' && !(await needsWebGpuAdapter(t))) return;
        if (backend === 'onnx-webgpu' && !(await needsOnnxWebGpu(t))) return;
        const error = parityError(await runPreset(entry, backend, paritySeed(entry), placement), reference);
        assert.ok(error <= budget, `error ${error} exceeds the budget ${budget}`);
        t.diagnostic(`error ${error.toExponential(2)}`);
      });
    }
  }
});
