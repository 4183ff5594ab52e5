/**
 * Golden checkpoint bytes: every preset of `PRESET_CATALOG`, stepped on a fixed seeded problem on
 * backend 'cpu', must save the same bytes as before the layering refactor of the kernels' ABI, the
 * 8-bit reference and the import graph.
 *
 * This is a regression pin for a refactor that must not change behaviour, not an oracle: the digests
 * below were generated from the code as it was before that refactor (by running this test with
 * GOLDEN_PRINT=1), so they only say "unchanged". The oracles (PyTorch trajectories, float64 rules,
 * bitsandbytes' maps) are in the other suites. A change that is meant to alter a checkpoint must
 * regenerate this table and say why in its commit.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PRESET_CATALOG } from '../src/optim/catalog.js';
import { toBf16, type Param } from '../src/index.js';
import { seededNormal } from './helpers.js';

/** Lengths: one tensor with 8-bit state (≥ 4096), one small fp32-state tensor, one odd block. */
const LENGTHS = [5000, 77, 4099];
const STEPS = 3;

const GOLDEN: Record<string, string> = {
  "AdamW": '3c85e3d922e81c6b22acb971f74bf1d17b5a7f11b693e4084c4f6e1fc8ecee2a',
  "Adam": 'e3ad87fd3d94b28d0aff8b5ea41dd520257030b43d12d6aebe5dd54690aa1242',
  "AdamW8bit": 'b8ed4d4873bc3e38eda57b566432046c9e59ab45ff86e0598b526ba413daba9f',
  "PagedAdamW": 'b76b7deb0590a26fbc7063df0022391ba455a2222053d1fca76d590c0c2e7c72',
  "PagedAdamW8bit": 'e38dbd6744dc03d844b44e48c7a0da25f2ca8602c45da29631babd1b527b9e28',
  "AdamW (bf16 params)": 'e2e8834587568e4120eca4b577267cd7a19ac43242c20077f51feeabd757a72b',
  "StableAdamW": '5a23961c21123a255eb159b33dbdb0894805ed73f7917312fbad1ff87a865cfd',
  "AdamW8bitKahan": '369fe8855f1dc2b9872fb942a7b2cc5dfcc0395ac23edc4b7308c1d9e3e5b1e3',
  "AdamW amsgrad": 'a96e1ae2510cc396add4a907b3a8f06d8c539a8afd1441b629a9b418798da3d3',
};

function makeParams(bf16: boolean): Param[] {
  const normal = seededNormal(11);
  return LENGTHS.map((n, i) => {
    const values = Float32Array.from({ length: n }, normal);
    const grad = new Float32Array(n);
    return bf16 ? { data: toBf16(values), dtype: 'bf16' as const, grad, name: `w${i}` } : { data: values, grad, name: `w${i}` };
  });
}

async function digest(entry: (typeof PRESET_CATALOG)[number], amsgrad: boolean): Promise<string> {
  const params = makeParams(entry.paramDtype === 'bf16');
  const opt = entry.create(params, { lr: 3e-3, weightDecay: 0.02, backend: 'cpu', ...(amsgrad ? { amsgrad: true } : {}) });
  try {
    const normal = seededNormal(12);
    for (let step = 0; step < STEPS; step++) {
      for (const p of params) (p.grad as Float32Array).set(Float32Array.from({ length: p.data.length }, normal));
      await opt.step();
    }
    return createHash('sha256').update(await opt.saveBytes()).digest('hex');
  } finally {
    opt.destroy();
  }
}

const CASES = [
  ...PRESET_CATALOG.map((entry) => ({ label: entry.label, entry, amsgrad: false })),
  { label: 'AdamW amsgrad', entry: PRESET_CATALOG.find((e) => e.label === 'AdamW')!, amsgrad: true },
];

describe('golden checkpoint bytes (regression pin, not an oracle)', () => {
  for (const { label, entry, amsgrad } of CASES) {
    it(`${label}: saveBytes() after ${STEPS} steps on 'cpu' has the pinned SHA-256`, async () => {
      const actual = await digest(entry, amsgrad);
      if (process.env.GOLDEN_PRINT) console.log(`  ${JSON.stringify(label)}: '${actual}',`);
      assert.equal(actual, GOLDEN[label], `${label}: checkpoint bytes changed`);
    });
  }
});
