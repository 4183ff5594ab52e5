/** Learning-rate schedules and global-norm clipping against hand-computed values of their definitions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AdamW, clipGradNorm, constantSchedule, constantWithWarmupSchedule, cosineWithWarmupSchedule, linearWithWarmupSchedule, LRScheduler, toBf16,
} from '../src/index.js';
import { makeParam, seededNormal } from './helpers.js';

const near = (a: number, b: number, what: string, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('learning-rate schedules (transformers get_*_schedule_with_warmup)', () => {
  it('constant', () => {
    const f = constantSchedule();
    for (const s of [0, 1, 1000]) assert.equal(f(s), 1);
  });
  it('constant with 10 warmup steps: 0 at step 0, 0.5 at 5, 1 from 10 on', () => {
    const f = constantWithWarmupSchedule(10);
    near(f(0), 0, 's0'); near(f(5), 0.5, 's5'); near(f(10), 1, 's10'); near(f(500), 1, 's500');
  });
  it('linear: warmup 10, total 110: 0.5 at 5, 1 at 10, 0.5 at 60, 0 at 110 and after', () => {
    const f = linearWithWarmupSchedule(10, 110);
    near(f(5), 0.5, 's5'); near(f(10), 1, 's10'); near(f(60), 0.5, 's60'); near(f(110), 0, 's110'); near(f(200), 0, 's200');
  });
  it('cosine: warmup 10, total 110: 1 at 10, (1+cos(π/4))/2 at 35, 0.5 at 60, 0 at 110; minLrRatio lifts the floor', () => {
    const f = cosineWithWarmupSchedule(10, 110);
    near(f(10), 1, 's10'); near(f(35), (1 + Math.SQRT1_2) / 2, 's35'); near(f(60), 0.5, 's60'); near(f(110), 0, 's110');
    const g = cosineWithWarmupSchedule(10, 110, { minLrRatio: 0.1 });
    near(g(110), 0.1, 'floor'); near(g(60), 0.1 + 0.9 * 0.5, 'mid');
  });
  it('bad step counts are refused', () => {
    assert.throws(() => cosineWithWarmupSchedule(-1, 10), /cosineWithWarmupSchedule: warmupSteps: -1 is invalid; warmupSteps must be an integer >= 0/);
    assert.throws(() => linearWithWarmupSchedule(1, 2.5), /totalSteps: 2.5 is invalid/);
    assert.throws(() => cosineWithWarmupSchedule(1, 10, { minLrRatio: 2 }), /minLrRatio: 2 is invalid/);
    // Swapped arguments: a warmup longer than the run.
    assert.throws(() => linearWithWarmupSchedule(10_000, 100), /linearWithWarmupSchedule: warmupSteps: 10000 exceeds totalSteps = 100; pass \(warmupSteps, totalSteps\)/);
    assert.throws(() => cosineWithWarmupSchedule(1, 10, { cycles: 0 }), /cycles: 0 is invalid; cycles must be a finite number > 0/);
    assert.throws(() => cosineWithWarmupSchedule(1, 10, { num_cycles: 1 } as object), /cosineWithWarmupSchedule: options: unknown option 'num_cycles'; transformers' num_cycles is 'cycles' here/);
  });
  it('LRScheduler refuses what is not an optimizer or a schedule', () => {
    const opt = new AdamW([makeParam([1, 2], 'plain')]);
    assert.throws(() => new LRScheduler(opt, 0.5 as unknown as () => number), /LRScheduler: multiplier: got 0.5; pass a schedule such as cosineWithWarmupSchedule/);
    assert.throws(() => new LRScheduler({} as AdamW, constantSchedule()), /LRScheduler: optimizer: got Object; pass an adamw-lab optimizer/);
  });
  it('toBf16 refuses a rounding mode or option it does not have', () => {
    assert.throws(() => toBf16([1.5], { rounding: 'up' } as never), /toBf16: options: rounding = "up" is not supported; rounding must be 'nearest' or 'stochastic'/);
    assert.throws(() => toBf16([1.5], { round: 'stochastic' } as object), /toBf16: options: unknown option 'round'; allowed: rounding, random/);
    assert.throws(() => toBf16([1.5], { random: () => 0.5 }), /random = function is not used; random is a \(\) => number in \[0, 1\), for rounding 'stochastic' only/);
  });
  it('LRScheduler drives each group from its own base lr, and step 0 of a warmup leaves params unchanged', async () => {
    const a = makeParam([1, -1], 'arena');
    const b = makeParam([2], 'plain');
    const opt = new AdamW([{ params: [a] }, { params: [b], lr: 1e-2 }], { lr: 1e-3 });
    const scheduler = new LRScheduler(opt, constantWithWarmupSchedule(4));
    assert.deepEqual(scheduler.lastLr, [0, 0]);
    a.grad.set([0.3, -0.2]);
    b.grad.set([0.5]);
    await opt.step();
    assert.deepEqual(Array.from(a.data), [1, -1], 'lr 0: no decay, no update');
    scheduler.step();
    near(scheduler.lastLr[0]!, 0.25e-3, 'group 0');
    near(scheduler.lastLr[1]!, 0.25e-2, 'group 1');
    await opt.step();
    assert.ok(a.data[0]! < 1 && a.data[1]! > -1, 'the second step moves against the gradient');
  });
});

describe('clipGradNorm (torch.nn.utils.clip_grad_norm_)', () => {
  it('scales by maxNorm/(‖g‖ + 1e-6) when ‖g‖ > maxNorm: grads [3, 4] and [12] have norm 13', () => {
    const a = makeParam([0, 0], 'plain');
    const b = makeParam([0], 'plain');
    a.grad.set([3, 4]);
    b.grad.set([12]);
    const norm = clipGradNorm([a, b, { data: new Float32Array(2), grad: null }], 1);
    assert.equal(norm, 13);
    const c = Math.fround(1 / (13 + 1e-6));
    assert.deepEqual(Array.from(a.grad), [Math.fround(3 * c), Math.fround(4 * c)]);
    assert.deepEqual(Array.from(b.grad), [Math.fround(12 * c)]);
  });
  it('leaves grads bit-identical when the norm is under maxNorm', () => {
    const normal = seededNormal(3);
    const a = makeParam([0, 0, 0, 0], 'plain');
    a.grad.set([normal(), normal(), normal(), normal()].map((x) => x / 10));
    const before = Array.from(a.grad);
    clipGradNorm([a], 10);
    assert.deepEqual(Array.from(a.grad), before);
  });
  it('the infinity norm is the largest |g|; p-norms follow their definition', () => {
    const a = makeParam([0, 0, 0], 'plain');
    a.grad.set([1, -5, 2]);
    assert.equal(clipGradNorm([a], 100, { normType: Infinity }), 5);
    near(clipGradNorm([a], 100, { normType: 1 }), 8, 'L1', 1e-6);
    near(clipGradNorm([a], 100, { normType: 3 }), Math.cbrt(1 + 125 + 8), 'L3', 1e-5);
  });
  it('errorIfNonfinite throws on a NaN or infinite norm and changes nothing; without it NaN spreads, as in PyTorch', () => {
    const a = makeParam([0, 0], 'plain');
    a.grad.set([1, Infinity]);
    assert.throws(() => clipGradNorm([a], 1, { errorIfNonfinite: true }), /clipGradNorm: grads: the total 2-norm is Infinity; grads must be finite/);
    assert.deepEqual(Array.from(a.grad), [1, Infinity]);
    a.grad.set([1, NaN]);
    assert.ok(Number.isNaN(clipGradNorm([a], 1)));
    assert.ok(Number.isNaN(a.grad[0]!));
  });
  it('bad arguments are refused', () => {
    assert.throws(() => clipGradNorm([], -1), /clipGradNorm: maxNorm: -1 is invalid; maxNorm must be a number >= 0/);
    assert.throws(() => clipGradNorm([], 1, { normType: 0.5 }), /normType: 0.5 is invalid/);
    assert.throws(() => clipGradNorm([{ data: new Float32Array(1), grad: [1] as unknown as Float32Array, name: 'w' }], 1), /clipGradNorm: param 0 \('w'\): grad is \[1\]/);
  });
});
