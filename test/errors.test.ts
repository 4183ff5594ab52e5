/**
 * Bad input: every failure throws an error naming the class, the param (index or name), the value and
 * what is allowed — and changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Adam, AdamW, clipGradNorm, constantSchedule, cosineWithWarmupSchedule, LRScheduler, toBf16, type Param, type StateDict } from '../src/index.js';
import { adamState, CPU_PATHS, makeParam, seededNormal } from './helpers.js';

function params(seed: number, ...lengths: number[]): Param[] {
  const normal = seededNormal(seed);
  return lengths.map((n, i) => {
    const p = makeParam(Float32Array.from({ length: n }, normal), 'plain', `layer${i}.weight`);
    p.grad.set(Float32Array.from({ length: n }, normal));
    return p;
  });
}

/** Everything observable: param values, grads and the state dict. */
function snapshot(ps: Param[], opt: AdamW): string {
  const sd = opt.stateDict();
  return JSON.stringify({
    data: ps.map((p) => Array.from(p.data)),
    grad: ps.map((p) => (p.grad ? Array.from(p.grad) : null)),
    state: Object.entries(sd.state).map(([k, s]) => [k, s.step, Array.from(adamState(s).exp_avg), Array.from(adamState(s).exp_avg_sq)]),
    groups: sd.paramGroups,
  });
}

/** Assert `fn` throws with a message that contains every fragment. */
function throwsNaming(fn: () => unknown, fragments: string[]): void {
  assert.throws(fn, (e: Error) => {
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

async function rejectsNaming(fn: () => Promise<unknown>, fragments: string[]): Promise<void> {
  await assert.rejects(fn, (e: Error) => {
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('bad hyperparameters are refused at construction', () => {
  const cases: Array<[string, object, string[]]> = [
    ['lr < 0', { lr: -1e-3 }, ['AdamW', 'lr = -0.001', '>= 0']],
    ['lr NaN', { lr: NaN }, ['AdamW', 'lr = NaN', 'finite']],
    ['eps < 0', { eps: -1 }, ['AdamW', 'eps = -1', '>= 0']],
    ['beta1 = 1', { betas: [1, 0.999] }, ['AdamW', 'betas[0] = 1', 'beta1 must be in [0, 1)']],
    ['beta2 < 0', { betas: [0.9, -0.1] }, ['AdamW', 'betas[1] = -0.1', 'beta2 must be in [0, 1)']],
    ['betas not a pair', { betas: [0.9] }, ['AdamW', 'betas = [0.9]', 'pair']],
    ['weightDecay < 0', { weightDecay: -0.01 }, ['AdamW', 'weightDecay = -0.01', '>= 0']],
    ['amsgrad not boolean', { amsgrad: 'yes' }, ['AdamW', 'amsgrad = "yes"', 'true or false']],
    ['unknown backend', { backend: 'tpu' }, ['AdamW', 'backend = "tpu"', "'cpu', 'js', 'webgpu' or 'onnx'"]],
    ['threads 0', { threads: 0 }, ['AdamW', 'threads = 0', 'integer >= 1']],
    ['threads with a backend that has none', { backend: 'js', threads: 2 }, ['AdamW', "threads is set with backend 'js'", "backend 'cpu'"]],
    ['threads with onnx', { backend: 'onnx', threads: 1 }, ['AdamW', "threads is set with backend 'onnx'", "backend 'cpu'"]],
    ['executionProviders without onnx', { executionProviders: ['cpu'] }, ['AdamW', "executionProviders is set with backend 'cpu'", "belongs to backend 'onnx'"]],
  ];
  for (const [name, options, fragments] of cases) {
    it(name, () => throwsNaming(() => new AdamW(params(1, 3), options), fragments));
  }

  it("an unknown key is refused, with PyTorch's snake_case names pointed to their camelCase spelling", () => {
    throwsNaming(() => new AdamW(params(1, 3), { weight_decay: 0.1 } as object), ['AdamW', 'options', "unknown option 'weight_decay'", "did you mean 'weightDecay'"]);
    throwsNaming(() => new AdamW(params(1, 3), { lrr: 0.1 } as object), ['AdamW', 'options', "unknown option 'lrr'", 'allowed: lr, betas']);
    const [a, b] = params(2, 3, 4);
    throwsNaming(() => new AdamW([{ params: [a!] }, { params: [b!], weight_decay: 0 } as never]), ['AdamW', 'param group 1', "unknown option 'weight_decay'", "'weightDecay'"]);
    throwsNaming(() => new AdamW([{ params: [a!], backend: 'js' } as never]), ['AdamW', 'param group 0', "unknown option 'backend'", "constructor's options"]);
    throwsNaming(() => new AdamW([a!], { paged: { budget: 1 << 20 } as object }), ['AdamW', 'options.paged', "unknown option 'budget'", 'budgetBytes, pageBytes, directory']);
    const opt = new AdamW([a!]);
    throwsNaming(() => opt.addParamGroup({ params: [b!], stateDtype: '8bit' } as never), ['AdamW', 'param group 1', "unknown option 'stateDtype'"]);
    assert.equal(opt.paramGroups.length, 1);
  });

  it('a group option names its group', () => {
    const [a, b] = params(2, 3, 4);
    throwsNaming(() => new Adam([{ params: [a!] }, { params: [b!], lr: -1 }]), ['Adam', 'param group 1', 'lr = -1']);
  });

  it('a param listed twice is refused, naming both places', () => {
    const [a, b] = params(3, 3, 4);
    throwsNaming(() => new AdamW([{ params: [a!, b!] }, { params: [a!] }]), ['AdamW', "param 2 ('layer0.weight')", 'same param as param 0']);
  });

  it('data that is not a Float32Array is refused', () => {
    throwsNaming(() => new AdamW([{ data: new Float64Array(3) as unknown as Float32Array, name: 'w' }]), ['AdamW', "param 0 ('w')", 'Float64Array(3)', 'Float32Array']);
    throwsNaming(() => new AdamW([{ data: [1, 2] as unknown as Float32Array }]), ['AdamW', 'param 0', 'data must be a Float32Array']);
  });

  it('an empty param list is refused', () => {
    throwsNaming(() => new AdamW([]), ['AdamW', 'params', 'non-empty']);
  });

  it('addParamGroup refuses a param already present', () => {
    const [a, b] = params(4, 2, 2);
    const opt = new AdamW([a!]);
    throwsNaming(() => opt.addParamGroup({ params: [b!, a!] }), ['AdamW', "param 2 ('layer0.weight')", 'same param as param 0']);
    assert.equal(opt.paramGroups.length, 1);
  });
});

describe('bad grads are refused by step() before anything is updated', () => {
  for (const path of CPU_PATHS) {
    it(`grad length differs from data (${path.label})`, async () => {
      const ps = params(5, 8, 5, 3);
      const opt = new AdamW(ps, { backend: path.backend });
      await opt.step();
      ps[2]!.grad = new Float32Array(4);
      const before = snapshot(ps, opt);
      await rejectsNaming(() => opt.step(), ['AdamW', "param 2 ('layer2.weight')", 'grad has length 4 but data has length 3', 'equal']);
      assert.equal(snapshot(ps, opt), before, 'params 0 and 1 must not have been updated');
    });
  }

  it('a grad that is not a Float32Array', async () => {
    const ps = params(6, 4, 4);
    const opt = new AdamW(ps);
    ps[1]!.grad = [1, 2, 3, 4] as unknown as Float32Array;
    const before = snapshot(ps, opt);
    await rejectsNaming(() => opt.step(), ['AdamW', "param 1 ('layer1.weight')", 'grad is [1, 2, 3, 4]', 'Float32Array']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a param whose data changed length after its state was created', async () => {
    const ps = params(7, 4, 4);
    const opt = new AdamW(ps);
    await opt.step();
    ps[0]!.data = new Float32Array(5);
    ps[0]!.grad = new Float32Array(5);
    const before = snapshot(ps, opt);
    await rejectsNaming(() => opt.step(), ['AdamW', "param 0 ('layer0.weight')", 'data has length 5 but its optimizer state has length 4']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a param with a null grad is skipped, as in PyTorch, and keeps its step count', async () => {
    const ps = params(8, 3, 3);
    const opt = new AdamW(ps);
    await opt.step();
    const frozen = Array.from(ps[1]!.data);
    ps[1]!.grad = null;
    await opt.step();
    assert.deepEqual(Array.from(ps[1]!.data), frozen);
    assert.equal(opt.stateDict().state[0]!.step, 2);
    assert.equal(opt.stateDict().state[1]!.step, 1);
  });

  it('step() while a step is in flight is refused', async () => {
    const ps = params(9, 3);
    const opt = new AdamW(ps);
    const first = opt.step();
    await rejectsNaming(() => opt.step(), ['AdamW', 'step()', 'still running']);
    await first;
  });
});

describe('non-finite gradients propagate, as in PyTorch (documented policy)', () => {
  for (const path of CPU_PATHS) {
    it(`NaN and Infinity reach only their own element (${path.label})`, async () => {
      const p = makeParam([0.5, -0.25, 1.5, 2], path.placement);
      p.grad.set([NaN, 0.1, Infinity, -0.3]);
      const opt = new AdamW([p], { backend: path.backend });
      await opt.step();
      assert.ok(Number.isNaN(p.data[0]!), 'NaN grad -> NaN param');
      assert.ok(Number.isNaN(p.data[2]!), 'Inf grad -> m = Inf, v = Inf, Inf/Inf = NaN param');
      assert.ok(Number.isFinite(p.data[1]!) && Number.isFinite(p.data[3]!), 'other elements are untouched by the NaN');
      const s = adamState(opt.stateDict().state[0]);
      assert.ok(Number.isNaN(s.exp_avg[0]!) && s.exp_avg_sq[2] === Infinity);
    });
  }
});

describe('loadStateDict refuses a state dict that does not fit, and changes nothing', () => {
  async function trained(): Promise<{ ps: Param[]; opt: AdamW; sd: StateDict }> {
    const ps = params(10, 6, 4);
    const opt = new AdamW([{ params: [ps[0]!] }, { params: [ps[1]!], lr: 5e-3 }], { amsgrad: true });
    await opt.step();
    await opt.step();
    return { ps, opt, sd: opt.stateDict() };
  }

  it('a different number of groups', async () => {
    const { ps, opt, sd } = await trained();
    const before = snapshot(ps, opt);
    throwsNaming(() => opt.loadStateDict({ ...sd, paramGroups: sd.paramGroups.slice(0, 1) }), ['AdamW', 'loadStateDict', '1 param groups but the optimizer has 2']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a different number of params in a group', async () => {
    const { ps, opt, sd } = await trained();
    const before = snapshot(ps, opt);
    const groups = sd.paramGroups.map((g, i) => (i === 1 ? { ...g, params: [1, 2] } : g));
    throwsNaming(() => opt.loadStateDict({ ...sd, paramGroups: groups }), ['AdamW', 'param group 1', 'lists 2 params but the group has 1']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a tensor of the wrong length', async () => {
    const { ps, opt, sd } = await trained();
    const before = snapshot(ps, opt);
    const state = { ...sd.state, 1: { ...sd.state[1]!, exp_avg_sq: new Float32Array(5) } };
    throwsNaming(() => opt.loadStateDict({ ...sd, state }), ['AdamW', "param 1 ('layer1.weight')", 'exp_avg_sq is Float32Array(5)', 'length 4']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a missing max_exp_avg_sq under amsgrad, a bad step, a bad key, bad hyperparameters', async () => {
    const { ps, opt, sd } = await trained();
    const before = snapshot(ps, opt);
    const { max_exp_avg_sq: _dropped, ...noMax } = sd.state[0]!;
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 0: noMax } }), ['param 0', 'max_exp_avg_sq is missing', 'amsgrad']);
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 0: { ...sd.state[0]!, step: -1 } } }), ['param 0', 'step = -1', 'integer >= 0']);
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 7: sd.state[0]! } }), ['state key "7"', 'does not name a param', '0..1']);
    throwsNaming(() => opt.loadStateDict({ ...sd, paramGroups: sd.paramGroups.map((g) => ({ ...g, eps: -1 })) }), ['loadStateDict: param group 0', 'eps = -1']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('a state dict from stateDict() round-trips into a fresh optimizer, and both continue identically', async () => {
    const { ps, opt, sd } = await trained();
    const copies = ps.map((p) => ({ data: p.data.slice(), grad: p.grad!.slice(), name: p.name! }));
    const fresh = new AdamW([{ params: [copies[0]!] }, { params: [copies[1]!] }]);
    fresh.loadStateDict(sd);
    assert.equal(fresh.paramGroups[1]!.lr, 5e-3);
    assert.equal(fresh.paramGroups[0]!.amsgrad, true);
    await opt.step();
    await fresh.step();
    ps.forEach((p, i) => assert.deepEqual(Array.from(copies[i]!.data), Array.from(p.data)));
  });
});

describe('validation gaps: holes, strings, nulls and loose keys are refused, changing nothing', () => {
  it('betas with a hole ([, 0.999] or [0.9, ,]) are refused, at construction, in a group and in loadStateDict', async () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    const holeFirst = [, 0.999] as unknown as [number, number];
    const holeSecond = new Array(2) as [number, number];
    holeSecond[0] = 0.9;
    throwsNaming(() => new AdamW(params(20, 3), { betas: holeFirst }), ['AdamW', 'options', 'betas[0] = (a hole) is invalid', 'beta1 must be in [0, 1)']);
    throwsNaming(() => new AdamW([{ params: params(20, 3), betas: holeSecond }]), ['AdamW', 'param group 0', 'betas[1] = (a hole)', 'beta2 must be in [0, 1)']);
    const ps = params(20, 3);
    const opt = new AdamW(ps);
    await opt.step();
    const sd = opt.stateDict();
    const before = snapshot(ps, opt);
    throwsNaming(() => opt.loadStateDict({ ...sd, paramGroups: [{ ...sd.paramGroups[0]!, betas: holeFirst }] }), ['AdamW', 'loadStateDict: param group 0', 'betas[0] = (a hole)']);
    assert.equal(snapshot(ps, opt), before);
  });

  it('loadStateDict refuses arrays of strings, arrays with holes, null entries and groups, and keys that are not canonical indices', async () => {
    const ps = params(21, 5, 3);
    const opt = new AdamW(ps);
    await opt.step();
    const sd = opt.stateDict();
    const before = snapshot(ps, opt);
    const entry = sd.state[0]!;
    const strings = Array.from(entry.exp_avg!, String) as unknown as Float32Array;
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 0: { ...entry, exp_avg: strings } } }),
      ['AdamW', "loadStateDict: param 0 ('layer0.weight')", 'exp_avg is ["', 'Float32Array or array of length 5 (numbers)']);
    const holes = new Array(5) as unknown as Float32Array;
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 0: { ...entry, exp_avg_sq: holes } } }), ['AdamW', 'param 0', 'exp_avg_sq is [', 'array of length 5']);
    throwsNaming(() => opt.loadStateDict({ ...sd, state: { ...sd.state, 1: null } } as unknown as StateDict),
      ['AdamW', "loadStateDict: param 1 ('layer1.weight')", 'its state is null', 'object { step, … }']);
    throwsNaming(() => opt.loadStateDict({ ...sd, paramGroups: [null] } as unknown as StateDict), ['AdamW', 'loadStateDict: param group 0', 'is null', 'object']);
    throwsNaming(() => opt.loadStateDict({ ...sd, state: 7 } as unknown as StateDict), ['AdamW', 'loadStateDict', 'state = 7 is invalid', 'object']);
    for (const key of ['', '0x1', ' 1', '1.0', '01', '-0', '1e0']) {
      throwsNaming(() => opt.loadStateDict({ ...sd, state: { [key]: sd.state[1] } } as unknown as StateDict),
        ['AdamW', `state key ${JSON.stringify(key)}`, 'does not name a param', 'integers 0..1']);
    }
    assert.equal(snapshot(ps, opt), before);
  });

  it("toBf16 refuses a random() that returns NaN, 1 or a string, leaving the caller's out array alone", () => {
    for (const value of [NaN, 1, -0.5, '0.5']) {
      const out = Uint16Array.of(7, 7);
      throwsNaming(() => toBf16([1.5, 2.5], { rounding: 'stochastic', random: () => value as number }, out),
        ['toBf16', 'options.random', `returned ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`, 'a number in [0, 1)']);
      assert.deepEqual(Array.from(out), [7, 7]);
    }
    throwsNaming(() => toBf16([1.5], null as never), ['toBf16', 'options', 'null is not an options object']);
    throwsNaming(() => toBf16('abc' as never), ['toBf16', 'values', '"abc" is not an array of numbers']);
  });

  it('LRScheduler refuses a schedule that returns NaN before any lr changes; step() refuses a NaN lr set by hand', async () => {
    const ps = params(22, 4);
    const opt = new AdamW(ps, { lr: 1e-3 });
    let multiplier = 1;
    const scheduler = new LRScheduler(opt, () => multiplier);
    multiplier = NaN;
    throwsNaming(() => scheduler.step(), ['LRScheduler', 'multiplier', 'returned NaN at step 1', 'finite number >= 0']);
    assert.equal(opt.paramGroups[0]!.lr, 1e-3);
    opt.paramGroups[0]!.lr = NaN;
    const before = snapshot(ps, opt);
    await rejectsNaming(() => opt.step(), ['AdamW', 'param group 0', 'lr = NaN', 'finite number >= 0']);
    assert.equal(snapshot(ps, opt), before);
    throwsNaming(() => cosineWithWarmupSchedule(1, 10, { minLrRatio: '0.5' as never }), ['cosineWithWarmupSchedule', 'minLrRatio', '"0.5" is invalid', '[0, 1]']);
    assert.equal(constantSchedule()(3), 1);
  });

  it('clipGradNorm and zeroGrad refuse malformed arguments, changing nothing', () => {
    const ps = params(23, 4, 3);
    const grads = ps.map((p) => Array.from(p.grad!));
    throwsNaming(() => clipGradNorm(ps, 1, { error_if_nonfinite: true } as object), ['clipGradNorm', 'options', "unknown option 'error_if_nonfinite'", "'errorIfNonfinite'"]);
    throwsNaming(() => clipGradNorm(ps, 1, { errorIfNonfinite: 'yes' as never }), ['clipGradNorm', 'errorIfNonfinite', '"yes" is invalid', 'true or false']);
    throwsNaming(() => clipGradNorm([ps[0]!, null as never], 0.1), ['clipGradNorm', 'param 1', 'null is not a param']);
    throwsNaming(() => clipGradNorm({} as never, 1), ['clipGradNorm', 'params', 'is not an array']);
    const opt = new AdamW(ps);
    throwsNaming(() => opt.zeroGrad({ set_to_none: true } as object), ['AdamW', 'zeroGrad()', "unknown option 'set_to_none'", "'setToNone'"]);
    throwsNaming(() => opt.zeroGrad({ setToNone: 1 as never }), ['AdamW', 'zeroGrad()', 'setToNone = 1 is invalid', 'true or false']);
    assert.deepEqual(ps.map((p) => Array.from(p.grad!)), grads);
  });
});
