/**
 * Params in shared memory on backends 'webgpu' and 'onnx', resident and paged: createParam's views of
 * adamw-lab's WebAssembly memory (and bf16 params over a SharedArrayBuffer) must step exactly as the
 * same problem on plain arrays does, bit for bit in params, state and checkpoint, and AdamW within the
 * fp32 budget of the float64 rule. Dawn once crashed the process on such views, so every backend runs
 * in a child process (test/shared-params-child.ts) and a crash fails its test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { adamReferenceStep } from '../src/index.js';
import { needsWebGpuAdapter, REPO_ROOT } from './helpers.js';
import { BUDGET, parityError } from './parity-cases.js';
import {
  presetsFor, SHARED_PARAM_BACKENDS, SHARED_PARAM_HP, SHARED_PARAM_SIZES, SHARED_PARAM_STEPS, sharedParamProblem, LARGE_SHARED_PARAM, sizesFor, type SharedParamPreset, type SharedParamRun,
} from './shared-params-child.js';

/** The float64 AdamW trajectory of tensor `k`: where it starts and ends. */
function float64AdamW(length: number, k: number): { start: Float64Array; end: Float64Array } {
  const { init, grads } = sharedParamProblem(length, 100 + k);
  const start = Float64Array.from(init);
  const theta = start.slice(), m = new Float64Array(init.length), v = new Float64Array(init.length);
  const { lr, betas: [beta1, beta2], eps, weightDecay } = SHARED_PARAM_HP;
  for (let t = 1; t <= SHARED_PARAM_STEPS; t++) {
    adamReferenceStep({ lr, beta1, beta2, eps, weightDecay, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' }, t, theta, Float64Array.from(grads[t - 1]!), m, v);
  }
  return { start, end: theta };
}

const float32s = (b64: string): Float32Array => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

describe('params in shared memory (createParam) on webgpu and onnx', () => {
  for (const backend of SHARED_PARAM_BACKENDS) {
    it(`${backend.label}: ${presetsFor(backend.paged).join(', ')} on sizes ${SHARED_PARAM_SIZES.join(', ')} ${backend.paged ? '' : `(AdamW also ${LARGE_SHARED_PARAM}) `}step as plain arrays do, bit for bit; save() and stateDictAsync() too`, async (t) => {
      if (backend.gpu && !(await needsWebGpuAdapter(t))) return;
      const child = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/shared-params-child.ts'), '--child', backend.label], {
        cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000,
      });
      assert.equal(child.signal, null, `the child process died of ${child.signal}: ${child.stderr.slice(-2000)}`);
      assert.equal(child.status, 0, `the child process exited with ${child.status}: ${child.stderr.slice(-2000)}`);
      const runs = JSON.parse(child.stdout) as Record<string, { shared: SharedParamRun; plain: SharedParamRun }>;
      assert.deepEqual(Object.keys(runs), presetsFor(backend.paged));
      for (const [preset, { shared, plain }] of Object.entries(runs)) {
        const sizes = sizesFor(preset as SharedParamPreset, backend.paged);
        assert.equal(shared.params.length, sizes.length);
        sizes.forEach((n, k) => {
          assert.equal(shared.params[k], plain.params[k], `${preset}, tensor ${k} (${n} elements): params differ from the plain-array run`);
          assert.deepEqual(shared.state[k], plain.state[k], `${preset}, tensor ${k} (${n} elements): stateDictAsync() differs from the plain-array run`);
        });
        assert.equal(shared.checkpointSha256, plain.checkpointSha256, `${preset}: the save() file differs from the plain-array run's`);
        if (preset !== 'AdamW') continue;
        sizes.forEach((n, k) => {
          const error = parityError(Float64Array.from(float32s(shared.params[k]!)), float64AdamW(n, k));
          assert.ok(error <= BUDGET.fp32, `AdamW, tensor ${k} (${n} elements): error ${error} against the float64 rule exceeds ${BUDGET.fp32}`);
        });
      }
    });
  }
});
