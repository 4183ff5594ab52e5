/**
 * "A refusal changes nothing", as a property (fast-check, seeded): random bad input to every public
 * method and free function is refused with an error that names the owner (class or function), the
 * input and what is allowed, and the params, grads and state (read with stateDictAsync) are bit for
 * bit what they were. Run on every backend, resident and paged, a few seconds each.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AdamW, PagedAdamW, clipGradNorm, constantWithWarmupSchedule, cosineWithWarmupSchedule, createParam, linearWithWarmupSchedule, LRScheduler, toBf16,
  type AdamOptimizer, type Fp32Param, type OptimizerOptions, type StateDict,
} from '../src/index.js';
import { showValue } from '../src/util/errors.js';
import { LIFECYCLE_BACKENDS, needsWebGpuAdapter, seededNormal } from './helpers.js';

const DIR = mkdtempSync(join(tmpdir(), 'adamw-lab-refusal-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

// The paged cpu store stands for the paged stores here; test/concurrency.test.ts runs all seven backends.
const BACKENDS = LIFECYCLE_BACKENDS.filter((b) => b.label !== 'paged js' && b.label !== 'paged webgpu');
const LENGTHS = [700, 300];

/** The world a bad call must leave alone. */
interface World {
  opt: AdamOptimizer;
  ps: Fp32Param[];
  owner: string;
  options: OptimizerOptions;
  sd: StateDict;
  bytes: Uint8Array;
  file: string;
}

/** One bad call: what it does and the fragments its error must hold (owner, input, what is allowed). */
interface BadCall {
  label: string;
  run: (w: World) => unknown;
  fragments: (w: World) => string[];
  /** Undo what the call set up (a replaced grad, a read still running) once the refusal is caught. */
  restore?: (w: World) => unknown;
}

const nonNumber = fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.constant({}), fc.constant([1]));
/** Values outside [0, ∞) or not finite. */
const negativeOrNotFinite = fc.oneof(fc.double({ max: -1e-300, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity));
/** Keys that Number() reads as an index but are not written as one. */
const looseKey = fc.constantFrom('', '0x1', ' 1', '1.0', '01', '-0', '1e0', '+1', '0b1');

const badHyperparameter: fc.Arbitrary<BadCall> = fc.oneof(
  fc.tuple(fc.constantFrom('lr', 'eps', 'weightDecay'), fc.oneof(negativeOrNotFinite, nonNumber)).map(([key, value]): BadCall => ({
    label: `constructor ${key} = ${showValue(value)}`,
    run: (w) => new AdamW(w.ps, { ...w.options, [key]: value }),
    fragments: () => ['AdamW', `${key} = ${showValue(value)}`, '>= 0'],
  })),
  fc.tuple(fc.integer({ min: 0, max: 1 }), fc.oneof(fc.double({ min: 1, noNaN: true }), fc.double({ max: -1e-300, noNaN: true }), fc.constant(NaN), nonNumber, fc.constant('hole'))).map(([i, value]): BadCall => {
    // A hole where the bad value goes, when the value is 'hole': new Array leaves it unassigned.
    const betas = new Array<unknown>(2);
    betas[1 - i] = [0.9, 0.999][1 - i];
    if (value !== 'hole') betas[i] = value;
    return {
      label: `constructor betas[${i}] = ${showValue(value)}`,
      run: (w) => new AdamW(w.ps, { ...w.options, betas: betas as [number, number] }),
      fragments: () => ['AdamW', `betas[${i}] = ${value === 'hole' ? '(a hole)' : showValue(value)}`, `beta${i + 1} must be in [0, 1)`],
    };
  }),
  fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize', 'stateDtype', 'paged', 'kahan', 'stable', 'backend', 'executionProviders', 'device', 'threads'].includes(k)
    && !['__proto__', 'constructor'].includes(k)).map((key): BadCall => ({
    label: `constructor unknown option ${JSON.stringify(key)}`,
    run: (w) => new AdamW(w.ps, { ...w.options, [key]: 1 }),
    fragments: () => ['AdamW', `unknown option '${key}'`, 'lr'],
  })),
  fc.tuple(fc.constantFrom('lr', 'eps', 'weightDecay'), fc.oneof(negativeOrNotFinite, nonNumber)).map(([key, value]): BadCall => ({
    label: `step() after paramGroups[0].${key} = ${showValue(value)}`,
    run: (w) => {
      (w.opt.paramGroups[0] as unknown as Record<string, unknown>)[key] = value;
      return w.opt.step();
    },
    fragments: (w) => [w.owner, 'param group 0', `${key} = ${showValue(value)}`, '>= 0'],
    restore: (w) => void ((w.opt.paramGroups[0] as unknown as Record<string, unknown>)[key] = key === 'lr' ? 1e-2 : key === 'eps' ? 1e-8 : 0.1),
  })),
);

const badGrad: fc.Arbitrary<BadCall> = fc.tuple(fc.integer({ min: 0, max: 1 }), fc.oneof(
  fc.integer({ min: 0, max: 2000 }).map((n) => ({ grad: new Float32Array(n), shown: `Float32Array(${n})` })),
  fc.constantFrom(Float64Array, Int32Array, Uint8Array).map((T) => ({ grad: new T(8), shown: `${T.name}(8)` })),
  fc.array(fc.double(), { maxLength: 5 }).map((a) => ({ grad: a, shown: showValue(a) })),
)).filter(([i, { grad }]) => !(grad instanceof Float32Array && grad.length === LENGTHS[i])).map(([i, { grad, shown }]): BadCall => {
  let saved: Float32Array | undefined;
  return {
    label: `step() with param ${i}'s grad ${shown}`,
    run: (w) => {
      saved = w.ps[i]!.grad;
      (w.ps[i] as { grad: unknown }).grad = grad;
      return w.opt.step();
    },
    fragments: (w) => [w.owner, `param ${i} ('w${i}')`, grad instanceof Float32Array ? `grad has length ${grad.length} but data has length ${LENGTHS[i]}` : `grad is ${shown}`,
      grad instanceof Float32Array ? 'they must be equal' : 'Float32Array'],
    restore: (w) => void (w.ps[i]!.grad = saved!),
  };
});

const badZeroGrad: fc.Arbitrary<BadCall> = fc.oneof(
  fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 3 })).map((options): BadCall => ({
    label: `zeroGrad(${showValue(options)})`,
    run: (w) => w.opt.zeroGrad(options as never),
    fragments: (w) => [w.owner, 'zeroGrad()', `options = ${showValue(options)}`, 'setToNone'],
  })),
  fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)).map((value): BadCall => ({
    label: `zeroGrad({ setToNone: ${showValue(value)} })`,
    run: (w) => w.opt.zeroGrad({ setToNone: value as never }),
    fragments: (w) => [w.owner, 'zeroGrad()', `setToNone = ${showValue(value)}`, 'true or false'],
  })),
);

/** A valid state dict, damaged in one place. */
const badStateDict: fc.Arbitrary<BadCall> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 1 }), fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 0.1, max: 1e6, noInteger: true }), fc.constant(NaN), nonNumber)).map(([i, step]): BadCall => ({
    label: `loadStateDict with state[${i}].step = ${showValue(step)}`,
    run: (w) => w.opt.loadStateDict({ ...w.sd, state: { ...w.sd.state, [i]: { ...w.sd.state[i]!, step } } } as StateDict),
    fragments: (w) => [w.owner, `loadStateDict: param ${i} ('w${i}')`, `step = ${showValue(step)}`, 'integer >= 0'],
  })),
  fc.tuple(looseKey, fc.integer({ min: 2, max: 99 }).map(String)).chain(([loose, outOfRange]) => fc.constantFrom(loose, outOfRange)).map((key): BadCall => ({
    label: `loadStateDict with state key ${JSON.stringify(key)}`,
    run: (w) => w.opt.loadStateDict({ ...w.sd, state: { [key]: w.sd.state[0] } } as unknown as StateDict),
    fragments: (w) => [w.owner, `state key ${JSON.stringify(key)}`, 'does not name a param', 'integers 0..1'],
  })),
  fc.tuple(fc.integer({ min: 0, max: 1 }), fc.constantFrom('exp_avg', 'exp_avg_sq'), fc.oneof(
    fc.constant('strings'), fc.constant('holes'), fc.constant(null), fc.integer({ min: 0, max: 2000 }),
  )).map(([i, name, damage]): BadCall => ({
    label: `loadStateDict with state[${i}].${name} damaged (${String(damage)})`,
    run: (w) => {
      const n = LENGTHS[i]!;
      const value = damage === 'strings' ? Array.from({ length: n }, (_, k) => String(k))
        : damage === 'holes' ? new Array(n)
          : damage === null ? null : new Float32Array(damage === n ? n + 1 : damage);
      return w.opt.loadStateDict({ ...w.sd, state: { ...w.sd.state, [i]: { ...w.sd.state[i], [name]: value } } } as unknown as StateDict);
    },
    fragments: (w) => [w.owner, `loadStateDict: param ${i} ('w${i}')`, `${name} is `, `Float32Array or array of length ${LENGTHS[i]}`],
  })),
  fc.integer({ min: 0, max: 1 }).map((i): BadCall => ({
    label: `loadStateDict with state[${i}] = null`,
    run: (w) => w.opt.loadStateDict({ ...w.sd, state: { ...w.sd.state, [i]: null } } as unknown as StateDict),
    fragments: (w) => [w.owner, `loadStateDict: param ${i} ('w${i}')`, 'its state is null', 'object { step, … }'],
  })),
  fc.oneof(negativeOrNotFinite, nonNumber).map((lr): BadCall => ({
    label: `loadStateDict with paramGroups[0].lr = ${showValue(lr)}`,
    run: (w) => w.opt.loadStateDict({ ...w.sd, paramGroups: [{ ...w.sd.paramGroups[0]!, lr: lr as number }] }),
    fragments: (w) => [w.owner, 'loadStateDict: param group 0', `lr = ${showValue(lr)}`, '>= 0'],
  })),
  fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 3 }), fc.constant({ state: {} })).map((sd): BadCall => ({
    label: `loadStateDict(${showValue(sd)})`,
    run: (w) => w.opt.loadStateDict(sd as never),
    fragments: (w) => [w.owner, 'loadStateDict', `got ${showValue(sd)}`, '{ state, paramGroups }'],
  })),
);

/** Checkpoint bytes: random, truncated, or one byte changed. */
const badCheckpoint: fc.Arbitrary<BadCall> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'random bytes', damage: (): Uint8Array => bytes })),
  fc.double({ min: 0, max: 0.999, noNaN: true }).map((f) => ({ kind: `truncated at ${f.toFixed(3)}`, damage: (b: Uint8Array): Uint8Array => b.slice(0, Math.floor(b.length * f)) })),
  fc.tuple(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([f, x]) => ({
    kind: `one byte changed at ${f.toFixed(3)}`,
    damage: (b: Uint8Array): Uint8Array => {
      const copy = b.slice();
      const at = Math.floor(b.length * f);
      copy[at] = copy[at]! ^ x;
      return copy;
    },
  })),
).chain(({ kind, damage }) => fc.constantFrom<BadCall>(
  {
    label: `loadBytes(${kind})`,
    run: (w) => w.opt.loadBytes(damage(w.bytes)),
    fragments: (w) => [w.owner, 'loadBytes(Uint8Array(', ';'],
  },
  {
    label: `load(a file of ${kind})`,
    run: (w) => {
      const file = join(DIR, 'damaged.safetensors');
      writeFileSync(file, damage(w.bytes));
      return w.opt.load(file);
    },
    fragments: (w) => [w.owner, 'load("', 'damaged.safetensors', ';'],
  },
));

const badPath: fc.Arbitrary<BadCall> = fc.tuple(fc.constantFrom('save', 'load'), fc.oneof(fc.constant(''), fc.integer(), fc.constant(null), fc.constant(undefined))).map(([method, path]): BadCall => ({
  label: `${method}(${showValue(path)})`,
  run: (w) => (method === 'save' ? w.opt.save(path as never) : w.opt.load(path as never)),
  fragments: (w) => [w.owner, `${method}()`, `path = ${showValue(path)}`, 'file path'],
})).chain((bad) => fc.constantFrom(bad, {
  label: 'load(a file that does not exist) / save(into a directory that does not exist)',
  run: (w: World) => (bad.label.startsWith('save') ? w.opt.save(join(DIR, 'missing', 'x.safetensors')) : w.opt.load(join(DIR, 'missing.safetensors'))),
  fragments: (w: World) => [w.owner, bad.label.startsWith('save') ? 'save("' : 'load("', 'does not exist (ENOENT)', 'pass'],
}));

/** Calls made while a read (saveBytes or stateDictAsync) is running: every method refuses, naming it. */
const callWhileReading: fc.Arbitrary<BadCall> = fc.tuple(
  fc.constantFrom('saveBytes()', 'stateDictAsync()'),
  fc.constantFrom('step()', 'zeroGrad()', 'stateDict()', 'stateDictAsync()', 'saveBytes()', 'save()', 'load()', 'loadBytes()', 'loadStateDict()', 'stateBytes()', 'addParamGroup()', 'destroy()'),
).map(([reading, method]): BadCall => {
  let inFlight: Promise<unknown> | undefined;
  return {
    label: `${method} while ${reading} runs`,
    run: (w) => {
      inFlight = reading === 'saveBytes()' ? w.opt.saveBytes() : w.opt.stateDictAsync();
      const calls: Record<string, () => unknown> = {
        'step()': () => w.opt.step(), 'zeroGrad()': () => w.opt.zeroGrad(), 'stateDict()': () => w.opt.stateDict(),
        'stateDictAsync()': () => w.opt.stateDictAsync(), 'saveBytes()': () => w.opt.saveBytes(), 'save()': () => w.opt.save(w.file),
        'load()': () => w.opt.load(w.file), 'loadBytes()': () => w.opt.loadBytes(w.bytes), 'loadStateDict()': () => w.opt.loadStateDict(w.sd),
        'stateBytes()': () => w.opt.stateBytes(), 'addParamGroup()': () => w.opt.addParamGroup({ params: [{ data: new Float32Array(4), grad: null }] }),
        'destroy()': () => w.opt.destroy(),
      };
      return calls[method]!();
    },
    fragments: (w) => [w.owner, method, `called while ${reading} is still running`, `await ${reading}`],
    restore: () => inFlight,
  };
});

const badParamGroup: fc.Arbitrary<BadCall> = fc.oneof(
  fc.oneof(fc.constant(null), fc.integer(), fc.constant({ params: [] }), fc.constant({ params: 'w' })).map((group): BadCall => ({
    label: `addParamGroup(${showValue(group)})`,
    run: (w) => w.opt.addParamGroup(group as never),
    fragments: (w) => [w.owner, 'param group 1', 'got', 'a group is { params: Param[] (non-empty)'],
  })),
  fc.integer({ min: 0, max: 1 }).map((i): BadCall => ({
    label: `addParamGroup with param ${i} again`,
    run: (w) => w.opt.addParamGroup({ params: [{ data: new Float32Array(3), grad: null }, w.ps[i]!] }),
    fragments: (w) => [w.owner, `param 3 ('w${i}')`, `same param as param ${i}`, 'only once'],
  })),
);

/** The free functions: schedules, LRScheduler, clipGradNorm (on the optimizer's own params), toBf16, createParam. */
const badFreeFunction: fc.Arbitrary<BadCall> = fc.oneof(
  fc.tuple(fc.constantFrom('constantWithWarmupSchedule', 'linearWithWarmupSchedule', 'cosineWithWarmupSchedule'), fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 0.1, max: 100, noInteger: true }), fc.constant(NaN), nonNumber)).map(([fn, warmup]): BadCall => ({
    label: `${fn}(${showValue(warmup)}, 100)`,
    run: () => (fn === 'constantWithWarmupSchedule' ? constantWithWarmupSchedule(warmup as number)
      : fn === 'linearWithWarmupSchedule' ? linearWithWarmupSchedule(warmup as number, 100) : cosineWithWarmupSchedule(warmup as number, 100)),
    fragments: () => [fn, 'warmupSteps', `${showValue(warmup)} is invalid`, 'integer >= 0'],
  })),
  fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 99 })).filter(([w, t]) => w > t).map(([warmup, total]): BadCall => ({
    label: `linearWithWarmupSchedule(${warmup}, ${total})`,
    run: () => linearWithWarmupSchedule(warmup, total),
    fragments: () => ['linearWithWarmupSchedule', `${warmup} exceeds totalSteps = ${total}`, 'warmupSteps <= totalSteps'],
  })),
  fc.oneof(fc.double({ min: 1.0001, max: 10, noNaN: true }), fc.double({ max: -1e-300, noNaN: true }), fc.constant(NaN), fc.string({ maxLength: 3 })).map((ratio): BadCall => ({
    label: `cosineWithWarmupSchedule minLrRatio = ${showValue(ratio)}`,
    run: () => cosineWithWarmupSchedule(0, 10, { minLrRatio: ratio as number }),
    fragments: () => ['cosineWithWarmupSchedule', 'minLrRatio', `${showValue(ratio)} is invalid`, 'in [0, 1]'],
  })),
  fc.oneof(negativeOrNotFinite, fc.string({ maxLength: 3 })).map((m): BadCall => ({
    label: `LRScheduler with a schedule returning ${showValue(m)}`,
    run: (w) => new LRScheduler(w.opt, () => m as number),
    fragments: () => ['LRScheduler', 'multiplier', `returned ${showValue(m)}`, 'finite number >= 0'],
  })),
  fc.oneof(
    fc.oneof(negativeOrNotFinite.filter((x) => x !== Infinity), fc.string({ maxLength: 3 })).map((maxNorm) => ({ args: [maxNorm, {}] as const, what: 'maxNorm', shown: `${showValue(maxNorm)} is invalid`, allowed: 'number >= 0' })),
    fc.oneof(fc.double({ max: 0.999, noNaN: true }), fc.constant(NaN), fc.string({ maxLength: 3 })).map((normType) => ({ args: [1, { normType }] as const, what: 'normType', shown: `${showValue(normType)} is invalid`, allowed: '>= 1 or Infinity' })),
    fc.oneof(fc.integer(), fc.string({ maxLength: 3 })).map((flag) => ({ args: [1, { errorIfNonfinite: flag }] as const, what: 'errorIfNonfinite', shown: `${showValue(flag)} is invalid`, allowed: 'true or false' })),
  ).map(({ args, what, shown, allowed }): BadCall => ({
    label: `clipGradNorm(params, ${showValue(args[0])}, ${JSON.stringify(args[1])})`,
    run: (w) => clipGradNorm(w.ps, args[0] as number, args[1] as never),
    fragments: () => ['clipGradNorm', what, shown, allowed],
  })),
  fc.constant<BadCall>({
    label: 'clipGradNorm(params with a NaN grad, 0.01, { errorIfNonfinite: true })',
    run: (w) => {
      w.ps[1]!.grad[5] = NaN;
      return clipGradNorm(w.ps, 0.01, { errorIfNonfinite: true });
    },
    fragments: () => ['clipGradNorm', 'grads', 'the total 2-norm is NaN', 'finite'],
    restore: (w) => void (w.ps[1]!.grad[5] = 0.25),
  }),
  fc.oneof(fc.constantFrom(NaN, 1, 1.5, -0.1, Infinity), fc.string({ maxLength: 3 })).map((r): BadCall => ({
    label: `toBf16 with random() = ${showValue(r)}`,
    run: () => toBf16([1.1, -2.3], { rounding: 'stochastic', random: () => r as number }),
    fragments: () => ['toBf16', 'options.random', `returned ${showValue(r)}`, 'in [0, 1)'],
  })),
  fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 0.1, max: 100, noInteger: true }), fc.constant(NaN), fc.string({ minLength: 1, maxLength: 3 }), fc.constant(null), fc.constant([1, '2'])).map((values): BadCall => ({
    label: `createParam(${showValue(values)})`,
    run: () => createParam(values as never),
    fragments: () => ['createParam', 'values', `${showValue(values)} is invalid`, 'a length (integer >= 0) or an array of numbers'],
  })),
);

const CATEGORIES = { badHyperparameter, badGrad, badZeroGrad, badStateDict, badCheckpoint, badPath, callWhileReading, badParamGroup, badFreeFunction };
const BAD_CALLS = fc.oneof(...Object.entries(CATEGORIES).map(([category, arbitrary]) => arbitrary.map((bad) => ({ ...bad, category }))));

/** Params, grads and the state dict, as bytes: compared bit for bit (NaN patterns and -0 included). */
async function snapshot(w: World): Promise<string> {
  const sd = await w.opt.stateDictAsync();
  const hex = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
  return JSON.stringify({
    data: w.ps.map((p) => hex(p.data)),
    grad: w.ps.map((p) => hex(p.grad)),
    state: Object.entries(sd.state).map(([k, s]) => [k, Object.entries(s as unknown as Record<string, number | ArrayBufferView>).map(([n, v]) => [n, typeof v === 'number' ? v : hex(v)])]),
    groups: sd.paramGroups,
  });
}

/** The refusal, thrown or rejected. */
async function refusalOf(run: () => unknown): Promise<Error | undefined> {
  try {
    await run();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('a refusal changes nothing (fast-check, seeded)', () => {
  for (const backend of BACKENDS) {
    it(`${backend.label}: random bad input to every public method and free function is refused, naming owner, input and what is allowed; params, grads and state bit-identical`, async (t) => {
      if (backend.gpu && !(await needsWebGpuAdapter(t))) return;
      const normal = seededNormal(81);
      const ps = LENGTHS.map((n, i) => ({ data: Float32Array.from({ length: n }, normal), grad: Float32Array.from({ length: n }, normal), name: `w${i}` }));
      const hp = { lr: 1e-2, eps: 1e-8, weightDecay: 0.1 };
      const opt = backend.paged
        ? new PagedAdamW(ps, { ...backend.options, ...hp, paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } })
        : new AdamW(ps, { ...backend.options, ...hp });
      try {
        await opt.step();
        ps[1]!.grad[5] = 0.25; // the value clipGradNorm's NaN case restores
        const file = join(DIR, `${backend.label.replace(/\W+/g, '-')}.safetensors`);
        await opt.save(file);
        const world: World = {
          opt, ps, owner: backend.paged ? 'PagedAdamW' : 'AdamW', options: { ...backend.options, ...(backend.paged ? { paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } } : {}) },
          sd: await opt.stateDictAsync(), bytes: await opt.saveBytes(), file,
        };
        const started = Date.now();
        const exercised = new Set<string>();
        await fc.assert(fc.asyncProperty(BAD_CALLS, async (bad) => {
          exercised.add(bad.category);
          const before = await snapshot(world);
          const error = await refusalOf(() => bad.run(world));
          await bad.restore?.(world);
          assert.ok(error instanceof Error, `${bad.label}: accepted, expected a refusal`);
          for (const fragment of bad.fragments(world)) {
            assert.ok(error.message.includes(fragment), `${bad.label}: message ${JSON.stringify(error.message)} lacks ${JSON.stringify(fragment)}`);
          }
          assert.equal(await snapshot(world), before, `${bad.label}: params, grads or state changed`);
        }), { seed: 20261129, numRuns: backend.gpu || backend.label.startsWith('onnx') ? 120 : 250, interruptAfterTimeLimit: 8000 });
        t.diagnostic(`${Date.now() - started} ms`);
        assert.deepEqual([...exercised].sort(), Object.keys(CATEGORIES).sort(), 'every kind of bad call must have run');
      } finally {
        opt.destroy();
      }
    });
  }
});
