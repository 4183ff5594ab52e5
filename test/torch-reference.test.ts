/**
 * Every PyTorch float64 trajectory in test/oracles/torch-adamw.json, on every CPU path: each param
 * after every step, and the final state, within 1e-5·max(1, |ref|).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Adam, AdamW, type ParamGroup } from '../src/index.js';
import { CPU_PATHS, makeParam, maxScaledError, torchCases } from './helpers.js';

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
        const params = c.init.map((values, i) => makeParam(values, path.placement, `p${i}`));
        const groups: ParamGroup[] = c.groups
          ? c.groups.map(({ params: indices, ...options }) => ({ ...options, params: indices.map((i) => params[i]!) }))
          : [{ params }];
        const Optimizer = c.optimizer === 'Adam' ? Adam : AdamW;
        const opt = new Optimizer(groups, { ...c.options, backend: path.backend });
        // The flat order of params in the optimizer follows the groups, as in PyTorch.
        const flat = groups.flatMap((g) => g.params);
        for (let t = 0; t < c.steps; t++) {
          params.forEach((p, i) => p.grad.set(c.grads[t]![i]!));
          await opt.step();
          params.forEach((p, i) => {
            const { error, index } = maxScaledError(p.data, c.params[t]![i]!);
            assert.ok(error <= TOLERANCE, `step ${t + 1}, param ${i}[${index}]: got ${p.data[index]}, torch ${c.params[t]![i]![index]} (scaled error ${error})`);
          });
        }
        const sd = opt.stateDict();
        flat.forEach((p, flatIndex) => {
          const i = params.indexOf(p as (typeof params)[number]);
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
