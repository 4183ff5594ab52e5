/**
 * Every PyTorch float64 trajectory in test/oracles/torch-adamw.json, on every CPU path: each param
 * after every step, and the final state, within 1e-5·max(1, |ref|).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CPU_PATHS, makeParam, maxScaledError, runTorchCase, torchCases } from './helpers.js';

const TOLERANCE = 1e-5;

describe('PyTorch trajectories (torch.optim float64)', () => {
  const cases = torchCases();
  it('covers param groups, amsgrad, maximize and Adam with L2', () => {
    const names = cases.map((c) => c.name);
    for (const expected of ['adamw-param-groups', 'adamw-amsgrad', 'adamw-maximize', 'adam-l2', 'adam-l2-amsgrad']) {
      assert.ok(names.includes(expected), `missing case ${expected}`);
    }
  });
  for (const path of CPU_PATHS) {
    for (const c of cases) {
      it(`${c.name} on ${path.label}`, async () => {
        const { opt, params, flat } = await runTorchCase(c, { backend: path.backend }, (values, i) => makeParam(values, path.placement, `p${i}`));
        const sd = opt.stateDict();
        flat.forEach((p, flatIndex) => {
          const i = params.indexOf(p);
          const ref = c.finalState[i]!;
          const ours = sd.state[flatIndex]!;
          assert.equal(ours.step, c.steps);
          for (const key of ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const) {
            const expected = ref[key];
            if (!expected) {
              assert.equal(ours[key], undefined, `${key} should be absent`);
              continue;
            }
            const { error, index } = maxScaledError(ours[key]!, expected);
            assert.ok(error <= TOLERANCE, `final ${key} of param ${i}[${index}]: scaled error ${error}`);
          }
        });
        opt.destroy();
      });
    }
  }
});
