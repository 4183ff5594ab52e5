/**
 * adamw-lab/tfjs on tfjs's cpu backend: for every class, the same gradients through the tfjs
 * optimizer and through the core optimizer give the same bits (params after every step, and the whole
 * state); PyTorch's trajectories pass through tfjs; state is keyed by variable; bad input throws and
 * changes nothing.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as core from '../src/index.js';
import { AdamW, Adam, AdamW8bitKahan, type NamedTensor } from '../src/tfjs/index.js';
import { maxScaledError, seededNormal, torchCases } from './helpers.js';
import { bits, CLASS_PAIRS, linearLoss, useTfjsCpu, useTfjsWasm } from './tfjs-helpers.js';

/** Sizes: a 5000-element kernel (8-bit state: ≥ 4096), a small one, and a bias excluded from decay. */
const SHAPES: Array<{ name: string; shape: number[] }> = [
  { name: 'kernel', shape: [50, 100] },
  { name: 'small', shape: [7, 3] },
  { name: 'bias', shape: [33] },
];
const STEPS = 6;
const OPTIONS = { lr: 3e-2, weightDecay: 0.1 };

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Seeded gradients per step, with a scale that changes over steps so that StableAdamW's clipping engages. */
function gradients(seed: number): Float32Array[][] {
  const normal = seededNormal(seed);
  return Array.from({ length: STEPS }, (_, t) => SHAPES.map(({ shape }) => Float32Array.from({ length: size(shape) }, () => normal() * (t === 3 ? 20 : 1))));
}

function initial(seed: number): Float32Array[] {
  const normal = seededNormal(seed);
  return SHAPES.map(({ shape }) => Float32Array.from({ length: size(shape) }, () => normal() * 0.5));
}

let unique = 0;
function makeVariables(values: Float32Array[], bf16: boolean): tf.Variable[] {
  unique++;
  return SHAPES.map(({ name, shape }, i) => {
    const v = bf16 ? core.fromBf16(core.toBf16(values[i]!)) : values[i]!;
    return tf.variable(tf.tensor(v, shape), true, `t${unique}/${name}`);
  });
}

for (const [backend, use] of [['cpu', useTfjsCpu], ['wasm', useTfjsWasm]] as const) {
  describe(`adamw-lab/tfjs against the core optimizer on the tfjs ${backend} backend`, () => {
    before(use);

    for (const { name, Tfjs, Core, bf16, options } of CLASS_PAIRS) {
      it(`${name} on ${backend}: bit-identical to the core ${name}, params after every step and the whole state (bias excluded from decay)`, async () => {
        const init = initial(11);
        const grads = gradients(12);
        const variables = makeVariables(init, bf16);
        const opt = new Tfjs({ ...OPTIONS, ...options });
        opt.excludeFromWeightDecay({ varNames: ['bias'] });
        const params: core.Param[] = init.map((values, i) => (bf16
          ? { data: core.toBf16(values), dtype: 'bf16' as const, grad: new Float32Array(values.length), name: SHAPES[i]!.name }
          : { data: Float32Array.from(values), grad: new Float32Array(values.length), name: SHAPES[i]!.name }));
        const reference = new Core([{ params: params.slice(0, 2) }, { params: [params[2]!], weightDecay: 0 }], { ...OPTIONS, ...options });
        // No await between tfjs steps: applyGradients must be done when it returns.
        const after: Float32Array[][] = [];
        for (let t = 0; t < STEPS; t++) {
          opt.minimize(linearLoss(variables, grads[t]!), false, variables);
          after.push(variables.map((v) => (v.dataSync() as Float32Array).slice()));
        }
        assert.equal(opt.iterations, STEPS);
        for (let t = 0; t < STEPS; t++) {
          params.forEach((p, i) => p.grad!.set(grads[t]![i]!));
          await reference.step();
          params.forEach((p, i) => {
            const expected = p.data instanceof Uint16Array ? core.fromBf16(p.data) : p.data;
            assert.deepEqual(bits(after[t]![i]!), bits(expected), `${name}, step ${t + 1}, ${SHAPES[i]!.name}`);
          });
        }
        const weights = await opt.getWeights();
        const sd = reference.stateDict();
        assert.equal(weights[0]!.name, 'iter');
        for (const [i, v] of variables.entries()) {
          const expected = sd.state[i]! as unknown as Record<string, ArrayLike<number>>;
          const meta = weights.find((w) => w.name === `${v.name}/meta`)!;
          assert.deepEqual(Array.from(meta.tensor.dataSync()), [STEPS, v.size]);
          for (const [key, buffer] of Object.entries(expected)) {
            if (key === 'step') continue;
            const saved = weights.find((w) => w.name === `${v.name}/${key}`);
            assert.ok(saved, `${name}: ${v.name}/${key} is saved`);
            const raw = saved.tensor.dataSync();
            const got = saved.tensor.dtype === 'float32' ? raw : new (buffer.constructor as Uint8ArrayConstructor)(new Int32Array(raw).buffer, 0, buffer.length);
            assert.deepEqual(Array.from(got), Array.from(buffer), `${name}: ${key} of ${SHAPES[i]!.name}`);
          }
        }
        if (name === 'AdamW8bit' || name === 'AdamW8bitKahan') assert.ok(weights.some((w) => w.name.endsWith('kernel/state1')), '8-bit codes are saved');
        if (name === 'AdamW8bitKahan') assert.ok(weights.some((w) => w.name.endsWith('kernel/shift')), 'the Kahan shift is saved');
        reference.destroy();
        opt.dispose();
        tf.dispose(variables);
      });
    }

    it(`no tensor leaks: the count of tfjs tensors and bytes stays flat over steps on ${backend}`, () => {
      unique++;
      const v = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, `leak${unique}/v`);
      const opt = new AdamW({ lr: 0.1 });
      const g = [Float32Array.from([1, -1, 0.5, 2])];
      opt.minimize(linearLoss([v], g), false, [v]);
      const { numTensors, numBytes } = tf.memory();
      for (let t = 0; t < 3; t++) opt.minimize(linearLoss([v], g), false, [v]);
      assert.deepEqual([tf.memory().numTensors, tf.memory().numBytes], [numTensors, numBytes]);
      opt.dispose();
      v.dispose();
    });

    it(`after each step, ops read the variable's new values (tfjs wasm caches matMul's packed weights per buffer) on ${backend}`, () => {
      unique++;
      const normal = seededNormal(31);
      const w = tf.variable(tf.tensor2d(Float32Array.from({ length: 12 }, normal), [3, 4]), true, `matmul${unique}/w`);
      const identity = tf.eye(3);
      const opt = new AdamW({ lr: 0.1 });
      for (let t = 0; t < 3; t++) {
        // Σ(I·W): a matMul with W in the forward pass (where tfjs wasm packs W), gradient ones.
        opt.minimize(() => tf.sum(tf.matMul(identity, w)), false, [w]);
        // I·W is W exactly (each output is one product by 1 plus zeros).
        const product = tf.matMul(identity, w);
        assert.deepEqual(bits(product.dataSync()), bits(w.dataSync()), `step ${t + 1}: I·W must be the updated W`);
        product.dispose();
      }
      opt.dispose();
      tf.dispose([w, identity]);
    });

    it(`a tensor sharing the variable's buffer (clone) keeps its values on ${backend}`, () => {
      unique++;
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, `clone${unique}/v`);
      const opt = new AdamW({ lr: 0.1 });
      const g = [Float32Array.from([1, 1, 1])];
      opt.minimize(linearLoss([v], g), false, [v]);
      const copy = v.clone();
      const kept = Array.from(copy.dataSync());
      opt.minimize(linearLoss([v], g), false, [v]);
      assert.deepEqual(Array.from(copy.dataSync()), kept);
      assert.notDeepEqual(Array.from(v.dataSync()), kept);
      opt.dispose();
      tf.dispose([v, copy]);
    });
  });
}

describe('adamw-lab/tfjs on the tfjs cpu backend', () => {
  before(useTfjsCpu);

  for (const c of torchCases()) {
    it(`PyTorch trajectory ${c.name} through tfjs (one tfjs optimizer per param group)`, () => {
      const Cls = c.optimizer === 'Adam' ? Adam : AdamW;
      unique++;
      const variables = c.init.map((values, i) => tf.variable(tf.tensor1d(values), true, `torch${unique}/p${i}`));
      const groups = c.groups ?? [{ params: c.init.map((_, i) => i) }];
      const opts = groups.map(({ params: _indices, ...o }) => new Cls({ ...c.options, ...o }));
      for (let t = 0; t < c.steps; t++) {
        groups.forEach((g, k) => {
          const vars = g.params.map((i) => variables[i]!);
          opts[k]!.minimize(linearLoss(vars, g.params.map((i) => Float32Array.from(c.grads[t]![i]!))), false, vars);
        });
        variables.forEach((v, i) => {
          const { error, index } = maxScaledError(v.dataSync(), c.params[t]![i]!);
          assert.ok(error <= 1e-5, `${c.name}, step ${t + 1}, param ${i}[${index}]: scaled error ${error}`);
        });
      }
      opts.forEach((o) => o.dispose());
      tf.dispose(variables);
    });
  }

  it('state is keyed by variable: the variables of one call may differ from the next, and a newcomer gets fresh state', async () => {
    const normal = seededNormal(5);
    const draw = (n: number): Float32Array => Float32Array.from({ length: n }, normal);
    unique++;
    const a = tf.variable(tf.tensor1d(draw(8)), true, `key${unique}/a`);
    const b = tf.variable(tf.tensor1d(draw(5)), true, `key${unique}/b`);
    const pa: core.Param = { data: Float32Array.from(a.dataSync()), grad: new Float32Array(8) };
    const pb: core.Param = { data: Float32Array.from(b.dataSync()), grad: new Float32Array(5) };
    const opt = new AdamW({ lr: 0.01 });
    const refA = new core.AdamW([pa], { lr: 0.01 });
    const refB = new core.AdamW([pb], { lr: 0.01 });
    // a alone for three steps, then a and b together (b's first step is its step 1), then b alone.
    const plan = [[a], [a], [a], [a, b], [b]];
    for (const vars of plan) {
      const g = vars.map((v) => draw(v.size));
      opt.minimize(linearLoss(vars, g), false, vars);
      for (const [k, v] of vars.entries()) {
        const [p, ref] = v === a ? [pa, refA] : [pb, refB];
        p.grad!.set(g[k]!);
        await ref.step();
      }
    }
    assert.deepEqual(bits(a.dataSync()), bits(pa.data));
    assert.deepEqual(bits(b.dataSync()), bits(pb.data));
    const steps = (await opt.getWeights()).filter((w) => w.name.endsWith('/meta')).map((w) => [w.name, w.tensor.dataSync()[0]]);
    assert.deepEqual(steps, [[`${a.name}/meta`, 4], [`${b.name}/meta`, 2]]);
    assert.equal(opt.iterations, 5);
    opt.dispose();
    tf.dispose([a, b]);
  });

  it('a variable assigned between steps is read again (the copy in adamw-lab memory follows tfjs)', () => {
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, `assign${unique}/v`);
    const opt = new AdamW({ lr: 0.1, weightDecay: 0 });
    const g = [Float32Array.from([1, -1, 1, -1])];
    opt.minimize(linearLoss([v], g), false, [v]);
    v.assign(tf.tensor1d([10, 20, 30, 40]));
    opt.minimize(linearLoss([v], g), false, [v]);
    // Step 2 of Adam with a constant gradient moves each element by lr·sign(g) (to within ε): from 10, 20, 30, 40.
    const got = Array.from(v.dataSync());
    [9.9, 20.1, 29.9, 40.1].forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-5, `element ${i}: ${got[i]} vs ${e}`));
    opt.dispose();
    v.dispose();
  });

  it('a disposed variable\'s state is released and no longer saved, so a rebuilt model restores its own state', async () => {
    unique++;
    const old = tf.variable(tf.tensor1d([1, 2, 3]), true, `rebuilt${unique}/w`);
    const opt = new AdamW({ lr: 0.1 });
    opt.minimize(linearLoss([old], [Float32Array.from([1, -1, 2])]), false, [old]);
    old.dispose();
    // The same name, another variable (a model rebuilt around the same optimizer).
    const fresh = tf.variable(tf.tensor1d([4, 5, 6]), true, `rebuilt${unique}/w`);
    opt.minimize(linearLoss([fresh], [Float32Array.from([0.5, 0.5, -0.5])]), false, [fresh]);
    const saved = await opt.getWeights();
    assert.deepEqual(saved.map((w) => w.name), ['iter', `${fresh.name}/meta`, `${fresh.name}/exp_avg`, `${fresh.name}/exp_avg_sq`]);
    // m after one step is (1 − β1)·g = 0.1·g: the fresh variable's gradient, not the disposed one's.
    assert.deepEqual(Array.from(saved[2]!.tensor.dataSync()), Array.from(Float32Array.from([0.05, 0.05, -0.05])));
    opt.dispose();
    fresh.dispose();
  });

  it('a disposed optimizer refuses to step, save or load, with a clear error, and changes nothing', async () => {
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, `disposed${unique}/v`);
    const opt = new AdamW({ lr: 0.1 });
    opt.minimize(linearLoss([v], [Float32Array.from([1, 1, 1])]), false, [v]);
    const weights = await opt.getWeights();
    opt.dispose();
    const values = Array.from(v.dataSync());
    assert.throws(() => opt.minimize(linearLoss([v], [Float32Array.from([1, 1, 1])]), false, [v]),
      /AdamW: applyGradients: this optimizer was disposed; create a new optimizer/);
    await assert.rejects(opt.getWeights(), /AdamW: getWeights: this optimizer was disposed/);
    await assert.rejects(opt.setWeights(weights), /AdamW: setWeights: this optimizer was disposed/);
    assert.deepEqual(Array.from(v.dataSync()), values);
    assert.equal(opt.iterations, 1);
    v.dispose();
  });

  it('learningRate, tfjs\'s name for it, reads and sets lr', () => {
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2]), true, `learningRate${unique}/v`);
    const opt = new AdamW({ lr: 0.1, weightDecay: 0 });
    assert.equal(opt.learningRate, 0.1);
    opt.learningRate = 0;
    assert.equal(opt.lr, 0);
    opt.minimize(linearLoss([v], [Float32Array.from([1, -1])]), false, [v]);
    assert.deepEqual(Array.from(v.dataSync()), [1, 2], 'lr 0: no move');
    assert.throws(() => { opt.learningRate = -1; }, /AdamW: learningRate: lr = -1/);
    assert.equal(opt.lr, 0);
    opt.dispose();
    v.dispose();
  });

  it('arrays that dataSync() returned before a step keep their values', () => {
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, `snap${unique}/v`);
    const snapshot = v.dataSync();
    const opt = new AdamW({ lr: 0.1 });
    opt.minimize(linearLoss([v], [Float32Array.from([1, 1, 1])]), false, [v]);
    assert.deepEqual(Array.from(snapshot), [1, 2, 3]);
    assert.notDeepEqual(Array.from(v.dataSync()), [1, 2, 3]);
    opt.dispose();
    v.dispose();
  });

  it('on another tfjs backend that reads synchronously (webgl, say), the fallback is visible: one warning, executionPath, and the same bits', async (t) => {
    // A backend that tfjs knows by another name, running the cpu kernels: stands in for webgpu or webgl.
    const { MathBackendCPU } = await import('@tensorflow/tfjs-backend-cpu');
    if (!tf.findBackend('other')) {
      tf.registerBackend('other', () => new MathBackendCPU());
      for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: 'other' });
    }
    const warnings: string[] = [];
    t.mock.method(console, 'warn', (message: string) => void warnings.push(message));
    const run = async (backend: string): Promise<{ values: Float32Array; path: string }> => {
      await tf.setBackend(backend);
      unique++;
      const v = tf.variable(tf.tensor1d([0.5, -1.5, 2, 0.25]), true, `fallback${unique}/v`);
      const opt = new AdamW({ lr: 0.05 });
      for (const g of [[1, -2, 0.5, 3], [0.25, 1, -1, 2]]) opt.minimize(linearLoss([v], [Float32Array.from(g)]), false, [v]);
      const result = { values: (v.dataSync() as Float32Array).slice(), path: opt.executionPath };
      opt.dispose();
      v.dispose();
      return result;
    };
    try {
      const fallback = await run('other');
      const cpu = await run('cpu');
      const ours = warnings.filter((w) => String(w).startsWith('adamw-lab'));
      assert.equal(ours.length, 1, ours.join('\n'));
      assert.match(ours[0]!, /adamw-lab AdamW: on tfjs backend 'other' adamw-lab does not update the variables' device buffers, so the step runs adamw-lab's CPU kernel/);
      assert.equal(fallback.path, "cpu kernel, host fallback (tfjs backend 'other')");
      assert.equal(cpu.path, "cpu kernel, in place (tfjs backend 'cpu')");
      assert.deepEqual(bits(fallback.values), bits(cpu.values));
    } finally {
      await useTfjsCpu();
    }
  });

  it("a tfjs 'webgpu' backend without tfjs-backend-webgpu 4.x's internals, and Kahan on webgpu, are refused clearly, and nothing changes", async () => {
    // A backend registered under tfjs's name 'webgpu' (running the cpu kernels): it has no GPUDevice or tensor data map.
    const { MathBackendCPU } = await import('@tensorflow/tfjs-backend-cpu');
    if (!tf.findBackend('webgpu')) {
      tf.registerBackend('webgpu', () => new MathBackendCPU());
      for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: 'webgpu' });
    }
    try {
      await tf.setBackend('webgpu');
      for (const [opt, expected] of [
        [new AdamW(), /AdamW: applyGradients: tfjs backend 'webgpu' lacks device, tensorMap, uploadToGPU, endComputePassEncoder, submitQueue; adamw-lab\/tfjs reads the variables' GPUBuffers through tfjs-backend-webgpu 4\.x's tensor data map/],
        [new AdamW8bitKahan(), /AdamW8bitKahan: applyGradients: tfjs backend 'webgpu' is not supported with Kahan summation \(bf16 weights; kahan: true or AdamW8bitKahan\); the WGSL kernels keep such weights in bf16, and a tfjs variable is float32/],
        [new AdamW({ kahan: true }), /AdamW: applyGradients: tfjs backend 'webgpu' is not supported with Kahan summation/],
      ] as const) {
        unique++;
        const v = tf.variable(tf.tensor1d([1, 2]), true, `webgpu${unique}/v`);
        assert.throws(() => opt.minimize(linearLoss([v], [Float32Array.from([1, 1])]), false, [v]), expected);
        assert.deepEqual(Array.from(v.dataSync()), [1, 2]);
        assert.equal(opt.iterations, 0);
        assert.equal((await opt.getWeights()).length, 1, 'no state was made');
        opt.dispose();
        v.dispose();
      }
    } finally {
      await useTfjsCpu();
    }
  });

  describe('bad input gets the core library\'s errors and changes nothing', () => {
    it('an unknown option, a misspelled one, and a core option with no meaning in tfjs', () => {
      assert.throws(() => new AdamW({ weight_decay: 0.1 } as never), /AdamW: options: unknown option 'weight_decay'; did you mean 'weightDecay'/);
      assert.throws(() => new AdamW({ lr: -1 }), /AdamW: options: lr = -1/);
      assert.throws(() => new AdamW({ paged: true } as never), /AdamW: options: unknown option 'paged'; paged state reads its spill file asynchronously/);
      assert.throws(() => new AdamW({ threads: 2 } as never), /AdamW: options: unknown option 'threads'/);
      assert.throws(() => new Adam({ stateDtype: '8bit' }), /Adam/);
    });

    it('excludeFromWeightDecay with a non-string changes nothing', () => {
      const opt = new AdamW();
      opt.excludeFromWeightDecay({ varNames: ['bias'] });
      assert.throws(() => opt.excludeFromWeightDecay({ varNames: ['norm', 3 as unknown as string] }),
        /AdamW: excludeFromWeightDecay: varNames = \["norm", 3\] is invalid; varNames must be an array of non-empty strings/);
      assert.throws(() => opt.excludeFromWeightDecay({ varNames: 'bias' as unknown as string[] }), /varNames = "bias" is invalid/);
      assert.throws(() => opt.excludeFromWeightDecay({ var_names: ['x'] } as never), /unknown option 'var_names'/);
      assert.deepEqual(opt.excludedFromWeightDecay, ['bias']);
      opt.dispose();
    });

    it('setWeights with the wrong count, names or shapes changes nothing', async () => {
      unique++;
      const v = tf.variable(tf.tensor1d([1, 2, 3, 4, 5]), true, `bad${unique}/v`);
      const opt = new AdamW({ lr: 0.01 });
      const g = [Float32Array.from([0.5, -1, 2, 0.25, -0.125])];
      opt.minimize(linearLoss([v], g), false, [v]);
      const good = await opt.getWeights();
      const before = (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
      const tensorOf = (name: string): tf.Tensor => good.find((w) => w.name === name)!.tensor;
      const cases: Array<[string, NamedTensor[], RegExp]> = [
        ['missing iter', good.slice(1), /AdamW: setWeights: got a list starting with ".*\/meta"/],
        ['one buffer missing', good.slice(0, -1), /AdamW: setWeights: the list ends at weight 3; expected '.*\/exp_avg_sq'/],
        ['a wrong shape', good.map((w) => (w.name.endsWith('exp_avg') ? { name: w.name, tensor: tf.zeros([4]) } : w)),
          /AdamW: setWeights: weight 2 is ".*\/exp_avg" \(float32, 4 elements\); expected '.*\/exp_avg', a float32 tensor of 5 elements/],
        ['another variable size', [good[0]!, { name: `${v.name}/meta`, tensor: tf.tensor1d([1, 6], 'int32') }, { name: `${v.name}/exp_avg`, tensor: tf.zeros([6]) },
          { name: `${v.name}/exp_avg_sq`, tensor: tf.zeros([6]) }], /AdamW: setWeights: variable ".*" has 5 elements but saved state 0 \(".*"\) has 6/],
        ['an extra entry', [...good, { name: 'x', tensor: tensorOf(`${v.name}/exp_avg`) }], /AdamW: setWeights: weight 4 is "x"/],
      ];
      for (const [label, weights, message] of cases) {
        await assert.rejects(opt.setWeights(weights), message, label);
        assert.deepEqual((await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]), before, `${label}: state unchanged`);
      }
      opt.dispose();
      v.dispose();
    });

    it('a gradient of the wrong shape or dtype changes no variable', () => {
      unique++;
      const a = tf.variable(tf.tensor1d([1, 2]), true, `grad${unique}/a`);
      const b = tf.variable(tf.tensor1d([3, 4, 5]), true, `grad${unique}/b`);
      const opt = new AdamW();
      assert.throws(() => opt.applyGradients([{ name: a.name, tensor: tf.tensor1d([1, 1]) }, { name: b.name, tensor: tf.tensor1d([1, 1]) }]),
        /AdamW: applyGradients: the gradient of ".*\/b" is a float32 tensor of shape \[2\]; it must be a float32 tensor of the variable's shape \[3\]/);
      assert.throws(() => opt.applyGradients({ nope: tf.tensor1d([1]) }), /AdamW: applyGradients: no variable is named "nope"/);
      // Same size, another shape: tfjs's own optimizers refuse it too.
      assert.throws(() => opt.applyGradients({ [b.name]: tf.tensor2d([1, 1, 1], [3, 1]) }),
        /AdamW: applyGradients: the gradient of ".*\/b" is a float32 tensor of shape \[3, 1\]; it must be a float32 tensor of the variable's shape \[3\]/);
      assert.throws(() => opt.applyGradients([{ name: a.name, tensor: tf.tensor1d([1, 1]) }, { name: a.name, tensor: tf.tensor1d([2, 2]) }]),
        /AdamW: applyGradients: variable ".*\/a" is given 2 gradients; give each variable one gradient per call/);
      opt.lr = Number.NaN;
      assert.throws(() => opt.applyGradients({ [a.name]: tf.tensor1d([1, 1]) }), /AdamW: applyGradients: lr = NaN/);
      assert.deepEqual(Array.from(a.dataSync()), [1, 2]);
      assert.deepEqual(Array.from(b.dataSync()), [3, 4, 5]);
      assert.equal(opt.iterations, 0);
      opt.dispose();
      tf.dispose([a, b]);
    });
  });

  it('getConfig/fromConfig round-trip, with tfjs\'s customObjects and names that tfjs would camel-case', () => {
    const opt = new AdamW({ lr: 0.02, betas: [0.8, 0.95], weightDecay: 0.05 });
    opt.excludeFromWeightDecay({ varNames: ['layer_norm', 'bias'] });
    const config = opt.getConfig();
    const copy = AdamW.fromConfig(AdamW, { ...config, customObjects: {} }) as AdamW;
    assert.deepEqual(copy.getConfig(), config);
    assert.deepEqual(copy.excludedFromWeightDecay, ['layer_norm', 'bias']);
    assert.equal(tf.serialization.SerializationMap.getMap().classNameMap['adamw-lab.AdamW']![0], AdamW);
    opt.dispose();
    copy.dispose();
  });
});
