/**
 * Issue #4's parity table: every preset on every backend against the float64 rules, within the
 * preset's error budget (test/parity-cases.ts): every cell runs; no backend refuses a preset. The
 * columns are the registered backends (src/backends/registry.ts), and every kernel variant a backend
 * registers that no preset reaches gets a row of its own, so a backend is tested the moment it
 * registers; a registered kernel without a parity case fails the coverage check.
 * WebGPU runs on chromium's SwiftShader Vulkan driver (.ci/run installs it), skipped without one. The
 * WebGPU and ONNX columns run again on params in shared memory (createParam).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESET_CATALOG } from '../src/index.js';
import { BACKENDS } from '../src/backends/registry.js';
import { describeVariant } from '../src/core/kernel-declarations.js';
import { needsOnnxWebGpu, needsWebGpuAdapter } from './helpers.js';
import {
  budgetOf, caseVariant, float64Reference, PARITY_BACKENDS, parityError, paritySeed, presetVariant, runPreset, runVariantCase, SHARED_PLACEMENT_COLUMNS,
  variantCases, variantOracle, type ParityColumn, type ParityPlacement,
} from './parity-cases.js';

const COLUMNS = Object.keys(PARITY_BACKENDS);

/** Skip a cell whose device is absent here (WebGPU without an adapter). */
async function runs(column: ParityColumn, t: Parameters<typeof needsWebGpuAdapter>[0]): Promise<boolean> {
  if (column === 'webgpu' && !(await needsWebGpuAdapter(t))) return false;
  if (column === 'onnx-webgpu' && !(await needsOnnxWebGpu(t))) return false;
  return true;
}

describe('parity: preset × backend against the float64 rules', () => {
  for (const entry of PRESET_CATALOG) {
    const reference = float64Reference(entry, paritySeed(entry));
    const cells: Array<{ backend: ParityColumn; placement: ParityPlacement }> = COLUMNS.flatMap((backend) => [
      { backend, placement: 'plain' as const },
      ...(SHARED_PLACEMENT_COLUMNS.includes(backend) ? [{ backend, placement: 'shared' as const }] : []),
    ]);
    for (const { backend, placement } of cells) {
      const budget = budgetOf(entry);
      const where = placement === 'shared' ? ', params in shared memory' : '';
      it(`${entry.label} (${entry.paramDtype}) on ${backend}${where}: within ${budget} of the update`, async (t) => {
        if (!(await runs(backend, t))) return;
        const error = parityError(await runPreset(entry, backend, paritySeed(entry), placement), reference);
        assert.ok(error <= budget, `error ${error} exceeds the budget ${budget}`);
        t.diagnostic(`error ${error.toExponential(2)}`);
      });
    }
  }
});

describe('parity: every registered kernel variant that no preset reaches, on every backend that registers it', () => {
  const cases = variantCases();
  for (const c of cases) {
    const oracle = variantOracle(c);
    for (const column of COLUMNS) {
      const backend = PARITY_BACKENDS[column]!.backend ?? 'cpu';
      if (!BACKENDS.registrations().some((r) => r.backend === backend && describeVariant(r.variant) === c.label)) continue;
      it(`${c.label} on ${column}: within ${oracle.budget} ${oracle.unit}`, async (t) => {
        if (!(await runs(column, t))) return;
        const error = oracle.error(await runVariantCase(c, column));
        assert.ok(error <= oracle.budget, `error ${error} exceeds the budget ${oracle.budget} ${oracle.unit}`);
        t.diagnostic(`error ${error.toExponential(2)}`);
      });
    }
  }

  it('every registered kernel has a parity case on its backend (a preset row or a variant row)', () => {
    const covered = new Set([...PRESET_CATALOG.map(presetVariant), ...cases.map(caseVariant)].map(describeVariant));
    const backendsWithColumns = new Set(COLUMNS.map((column) => PARITY_BACKENDS[column]!.backend ?? 'cpu'));
    const missing = BACKENDS.registrations()
      .filter((r) => !backendsWithColumns.has(r.backend as never) || !covered.has(describeVariant(r.variant)))
      .map((r) => `${r.backend}: ${describeVariant(r.variant)}`);
    assert.deepEqual(missing, [], `registered kernels without a parity case: ${missing.join('; ')}`);
    assert.ok(BACKENDS.registrations().length >= 4 * 17, `${BACKENDS.registrations().length} kernels registered`);
  });
});
