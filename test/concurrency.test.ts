/**
 * One call at a time, on every backend: while a step (or a save, load or stateDictAsync) is running,
 * every public method refuses before touching anything, naming the class, the method and the call it
 * must await; the step then finishes with nothing torn (every param's state at the same step, params
 * and moments equal to the float64 rule's). After destroy() every method refuses; destroy() twice is a
 * no-op. step() reads each param's data and grad once: a getter or a grad replaced mid-step changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import {
  AdamW, PagedAdamW, adamReferenceStep, createParam,
  type AdamHyperparameters, type AdamOptimizer, type Fp32Param, type OptimizerOptions, type StateDict,
} from '../src/index.js';
import { LIFECYCLE_BACKENDS, maxScaledError, type LifecycleBackend, needsWebGpuAdapter, seededNormal } from './helpers.js';

const DIR = mkdtempSync(join(tmpdir(), 'adamw-lab-concurrency-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

const BACKENDS = LIFECYCLE_BACKENDS;

/** A param of `values` and `grad` in adamw-lab's shared memory (createParam). */
function ownParam(values: Float32Array, grad: Float32Array): Fp32Param {
  const p = createParam(values, 'own');
  p.grad.set(grad);
  return p;
}

const HP = { lr: 1e-2, betas: [0.9, 0.99] as [number, number], eps: 1e-8, weightDecay: 0.1 };
/** Lengths over several 256-blocks and pages (the paged budget below holds 16 KiB pages). */
const LENGTHS = [5000, 1300];
const PAGED = { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 };

function build(options: OptimizerOptions, paged: boolean, seed: number): { opt: AdamOptimizer; ps: Fp32Param[]; grads: Float32Array[][] } {
  const normal = seededNormal(seed);
  const ps = LENGTHS.map((n, i) => ({ data: Float32Array.from({ length: n }, normal), grad: new Float32Array(n), name: `w${i}` }));
  const grads = [0, 1, 2].map(() => LENGTHS.map((n) => Float32Array.from({ length: n }, normal)));
  const opt = paged ? new PagedAdamW(ps, { ...options, ...HP, paged: PAGED }) : new AdamW(ps, { ...options, ...HP });
  return { opt, ps, grads };
}

/**
 * An optimizer on `backend` after one whole step, with what the tests pass to every method: its state
 * dict, its checkpoint bytes and a checkpoint file; the second step's grads are already set.
 */
async function afterOneStep(backend: LifecycleBackend, seed: number, fileSuffix: string): Promise<ReturnType<typeof build> & {
  owner: string; init: Float32Array[]; sd: StateDict; bytes: Uint8Array; file: string;
}> {
  const built = build(backend.options, backend.paged ?? false, seed);
  const { opt, ps, grads } = built;
  try {
    const init = ps.map((p) => p.data.slice());
    ps.forEach((p, i) => p.grad.set(grads[0]![i]!));
    await opt.step();
    const sd = await opt.stateDictAsync();
    const bytes = await opt.saveBytes();
    const file = join(DIR, `${backend.label.replace(/\W+/g, '-')}${fileSuffix}.safetensors`);
    await opt.save(file);
    ps.forEach((p, i) => p.grad.set(grads[1]![i]!));
    return { ...built, owner: backend.paged ? 'PagedAdamW' : 'AdamW', init, sd, bytes, file };
  } catch (error) {
    opt.destroy();
    throw error;
  }
}

/** The float64 rule over the same steps: params, m and v of each param. */
function reference(init: Float32Array[], grads: Float32Array[][]): Array<{ p: Float32Array; m: Float32Array; v: Float32Array }> {
  const hp: AdamHyperparameters = {
    lr: HP.lr, beta1: HP.betas[0], beta2: HP.betas[1], eps: HP.eps, weightDecay: HP.weightDecay,
    amsgrad: false, maximize: false, weightDecayMode: 'decoupled',
  };
  return init.map((p0, i) => {
    const p = p0.slice();
    const m = new Float32Array(p.length);
    const v = new Float32Array(p.length);
    grads.forEach((g, t) => adamReferenceStep(hp, t + 1, p, g[i]!, m, v));
    return { p, m, v };
  });
}

/** Assert params and state are those of `steps` whole steps of the float64 rule, at the same step count. */
async function assertWholeSteps(opt: AdamOptimizer, ps: Fp32Param[], init: Float32Array[], grads: Float32Array[][], steps: number): Promise<void> {
  const ref = reference(init, grads.slice(0, steps));
  const sd = await opt.stateDictAsync();
  ps.forEach((p, i) => {
    const s = sd.state[i]!;
    assert.equal(s.step, steps, `param ${i} is at step ${s.step}, not ${steps}`);
    for (const [what, ours, theirs] of [['param', p.data, ref[i]!.p], ['exp_avg', s.exp_avg!, ref[i]!.m], ['exp_avg_sq', s.exp_avg_sq!, ref[i]!.v]] as const) {
      const { error, index } = maxScaledError(ours, theirs);
      assert.ok(error <= 1e-5, `param ${i} ${what}[${index}]: ${ours[index]} vs the float64 rule's ${theirs[index]} after ${steps} steps`);
    }
  });
}

/** Every public method, as a call that must be refused now; `sd`, `bytes` and `file` are a valid checkpoint. */
function everyMethod(opt: AdamOptimizer, sd: StateDict, bytes: Uint8Array, file: string): Array<[string, () => unknown]> {
  return [
    ['step()', () => opt.step()],
    ['zeroGrad()', () => opt.zeroGrad()],
    ['zeroGrad()', () => opt.zeroGrad({ setToNone: true })],
    ['stateDict()', () => opt.stateDict()],
    ['stateDictAsync()', () => opt.stateDictAsync()],
    ['loadStateDict()', () => opt.loadStateDict(sd)],
    ['save()', () => opt.save(file)],
    ['saveBytes()', () => opt.saveBytes()],
    ['load()', () => opt.load(file)],
    ['loadBytes()', () => opt.loadBytes(bytes)],
    ['addParamGroup()', () => opt.addParamGroup({ params: [{ data: new Float32Array(8), grad: new Float32Array(8) }] })],
    ['stateBytes()', () => opt.stateBytes()],
    ['destroy()', () => opt.destroy()],
  ];
}

const ASYNC_METHODS = ['step()', 'stateDictAsync()', 'save()', 'saveBytes()', 'load()', 'loadBytes()'];

/**
 * Call every method at once (no await in between, so a fast step cannot finish meanwhile), then assert
 * each refused: synchronous methods by throwing, asynchronous ones by rejecting, with a message holding
 * the method's name and every fragment.
 */
async function allRefuse(calls: Array<[string, () => unknown]>, fragments: string[]): Promise<void> {
  const outcomes = calls.map(([name, call]) => {
    try {
      const result = call();
      return { name, result };
    } catch (error) {
      return { name, thrown: error };
    }
  });
  for (const { name, result, thrown } of outcomes) {
    let error = thrown;
    if (ASYNC_METHODS.includes(name)) {
      assert.equal(thrown, undefined, `${name} must reject, not throw: ${String(thrown)}`);
      assert.ok(result instanceof Promise, `${name} must return a promise`);
      error = await result.then(() => undefined, (e: unknown) => e);
    }
    assert.ok(error instanceof Error, `${name}: expected a refusal naming ${fragments.join(', ')}, got none`);
    for (const f of [name, ...fragments]) assert.ok(error.message.includes(f), `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(f)}`);
  }
}

async function skipUnlessRuns(t: TestContext, gpu: boolean | undefined): Promise<boolean> {
  return !gpu || needsWebGpuAdapter(t);
}

describe('one call at a time, on every backend', () => {
  for (const backend of BACKENDS) {
    it(`${backend.label}: every method called while step() runs refuses at once, naming AdamW and step(); the step is whole`, async (t) => {
      if (!(await skipUnlessRuns(t, backend.gpu))) return;
      const { opt, ps, grads, owner, init, sd, bytes, file } = await afterOneStep(backend, 71, '');
      try {
        const fileBefore = readFileSync(file);
        const stepping = opt.step();
        const refused = allRefuse(everyMethod(opt, sd, bytes, file), [owner, 'called while step() is still running', 'await step()']);
        await stepping;
        await refused;
        assert.deepEqual(readFileSync(file), fileBefore, 'a refused save() must not touch the file');
        await assertWholeSteps(opt, ps, init, grads, 2);
        // After the step every method works again: the checkpoint is stamped step 2 and holds step 2.
        const after2 = await opt.stateDictAsync();
        const fresh = build(backend.options, backend.paged ?? false, 71);
        try {
          await fresh.opt.loadBytes(await opt.saveBytes());
          const loaded = await fresh.opt.stateDictAsync();
          for (const i of [0, 1]) {
            assert.equal(loaded.state[i]!.step, 2);
            assert.deepEqual(loaded.state[i]!.exp_avg, after2.state[i]!.exp_avg);
          }
        } finally {
          fresh.opt.destroy();
        }
      } finally {
        opt.destroy();
      }
    });

    it(`${backend.label}: while saveBytes(), save(), stateDictAsync(), load() or loadBytes() runs, step() and the rest refuse; the checkpoint is not torn`, async (t) => {
      if (!(await skipUnlessRuns(t, backend.gpu))) return;
      const { opt, ps, grads, owner, init, sd, bytes, file } = await afterOneStep(backend, 72, '-2');
      try {
        const running: Array<[string, () => Promise<unknown>]> = [
          ['saveBytes()', () => opt.saveBytes()],
          ['save()', () => opt.save(file)],
          ['stateDictAsync()', () => opt.stateDictAsync()],
          ['load()', () => opt.load(file)],
          ['loadBytes()', () => opt.loadBytes(bytes)],
        ];
        for (const [name, start] of running) {
          const inFlight = start();
          const refused = allRefuse(everyMethod(opt, sd, bytes, file), [owner, `called while ${name} is still running`]);
          await inFlight;
          await refused;
        }
        // Nothing above stepped: the state is still step 1's, and the saved file loads as step 1.
        await assertWholeSteps(opt, ps, init, grads, 1);
        await opt.load(file);
        await opt.step();
        await assertWholeSteps(opt, ps, init, grads, 2);
      } finally {
        opt.destroy();
      }
    });

    it(`${backend.label}: after destroy() every method refuses naming the class; destroy() again is a no-op; save() leaves the file alone`, async (t) => {
      if (!(await skipUnlessRuns(t, backend.gpu))) return;
      const { opt, ps, grads } = build(backend.options, backend.paged ?? false, 73);
      const owner = backend.paged ? 'PagedAdamW' : 'AdamW';
      ps.forEach((p, i) => p.grad.set(grads[0]![i]!));
      await opt.step();
      const sd = await opt.stateDictAsync();
      const bytes = await opt.saveBytes();
      const file = join(DIR, `${backend.label.replace(/\W+/g, '-')}-destroyed.safetensors`);
      writeFileSync(file, bytes);
      const params = ps.map((p) => [p.data.slice(), p.grad.slice()]);
      opt.destroy();
      await allRefuse(everyMethod(opt, sd, bytes, file).filter(([name]) => name !== 'destroy()'), [owner, 'called after destroy()', 'create a new optimizer']);
      assert.doesNotThrow(() => opt.destroy());
      assert.deepEqual(readFileSync(file), Buffer.from(bytes), 'save() after destroy() must not replace the checkpoint');
      ps.forEach((p, i) => {
        assert.deepEqual(p.data, params[i]![0]);
        assert.deepEqual(p.grad, params[i]![1]);
      });
    });
  }
});

describe('step() reads each param once', () => {
  /** A param whose data and grad are getters, counting reads; the grad changes after the first read. */
  function countedParam(data: Float32Array, first: Float32Array, later: Float32Array): { param: Fp32Param; reads: { data: number; grad: number } } {
    const reads = { data: 0, grad: 0 };
    const param = {
      get data() { reads.data++; return data; },
      get grad() { reads.grad++; return reads.grad === 1 ? first : later; },
    } as unknown as Fp32Param;
    return { param, reads };
  }

  for (const backend of BACKENDS) {
    it(`${backend.label}: a grad getter that answers a longer array the second time: the step uses the first, once; a neighbouring createParam tensor is untouched`, async (t) => {
      if (!(await skipUnlessRuns(t, backend.gpu))) return;
      const normal = seededNormal(74);
      const n = 4096;
      const own = ownParam(Float32Array.from({ length: n }, normal), Float32Array.from({ length: n }, normal));
      const longer = createParam(n + 16_384, 'longer');
      longer.grad.set(Float32Array.from({ length: n + 16_384 }, normal));
      const neighbour = createParam(Float32Array.from({ length: 16_384 }, normal), 'neighbour');
      neighbour.grad.set(Float32Array.from({ length: 16_384 }, normal));
      const neighbourBefore = [neighbour.data.slice(), neighbour.grad.slice()];
      const init = own.data.slice();
      const grad = own.grad.slice();
      const { param, reads } = countedParam(own.data, own.grad, longer.grad);
      const opt = backend.paged ? new PagedAdamW([param], { ...backend.options, ...HP, paged: PAGED }) : new AdamW([param], { ...backend.options, ...HP });
      try {
        reads.data = 0;
        reads.grad = 0;
        await opt.step();
        assert.deepEqual(reads, { data: 1, grad: 1 }, 'step() must read data and grad once each');
        const ref = reference([init], [[grad]])[0]!;
        const { error, index } = maxScaledError(own.data, ref.p);
        assert.ok(error <= 1e-5, `param[${index}] = ${own.data[index]}, the float64 rule with the grad read first gives ${ref.p[index]}`);
        assert.deepEqual(neighbour.data, neighbourBefore[0]);
        assert.deepEqual(neighbour.grad, neighbourBefore[1]);
      } finally {
        opt.destroy();
      }
    });
  }

  for (const backend of BACKENDS.filter((b) => b.paged)) {
    it(`${backend.label}: p.grad replaced while the paged step runs changes nothing in that step`, async (t) => {
      if (!(await skipUnlessRuns(t, backend.gpu))) return;
      const normal = seededNormal(75);
      const n = 20_000; // many 16 KiB pages
      const own = ownParam(Float32Array.from({ length: n }, normal), Float32Array.from({ length: n }, normal));
      const other = createParam(Float32Array.from({ length: 4 * n }, normal), 'other');
      other.grad.set(Float32Array.from({ length: 4 * n }, normal));
      const otherBefore = [other.data.slice(), other.grad.slice()];
      const init = own.data.slice();
      const grad = own.grad.slice();
      const param: Fp32Param = { data: own.data, grad: own.grad };
      const opt = new PagedAdamW([param], { ...backend.options, ...HP, paged: PAGED });
      try {
        const stepping = opt.step();
        // Let the first pages go through, then swap the grad for another tensor's (longer, other values).
        await new Promise((resolve) => setImmediate(resolve));
        param.grad = other.grad;
        await stepping;
        const ref = reference([init], [[grad]])[0]!;
        const { error, index } = maxScaledError(own.data, ref.p);
        assert.ok(error <= 1e-5, `param[${index}] = ${own.data[index]}, the float64 rule with the grad at step() gives ${ref.p[index]}`);
        assert.deepEqual(other.data, otherBefore[0]);
        assert.deepEqual(other.grad, otherBefore[1]);
      } finally {
        opt.destroy();
      }
    });
  }
});
