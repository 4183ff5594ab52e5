/**
 * adamw-lab/tfjs on tfjs's webgpu backend (tfjs-backend-webgpu on Dawn in Node, SwiftShader without a
 * GPU): the core's WGSL kernels step the variables' GPU buffers in place on tfjs's device, bit for
 * bit as the core optimizer's backend 'webgpu' does given the same gradients, with nothing read back
 * during a step (mapAsync counted), the update seen by the next op, and buffers that another tensor
 * reads left alone. test/tfjs-webgpu-browser.test.ts runs the same comparison in chromium.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as core from '../src/index.js';
import * as ours from '../src/tfjs/index.js';
import { seededNormal } from './helpers.js';
import { bits, linearLoss, useTfjsCpu, useTfjsWebGpu } from './tfjs-helpers.js';

/** A 5000-element kernel (8-bit state: ≥ 4096), one of 21 elements (not whole quads), a bias excluded from decay. */
const SHAPES: Array<{ name: string; shape: number[] }> = [
  { name: 'kernel', shape: [50, 100] },
  { name: 'small', shape: [7, 3] },
  { name: 'bias', shape: [33] },
];
const STEPS = 4;
const OPTIONS = { lr: 3e-2, weightDecay: 0.1 };
const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** The classes with a WGSL kernel for float32 weights, beside their core presets. */
const GPU_PAIRS = [
  { name: 'AdamW', Tfjs: ours.AdamW, Core: core.AdamW, options: {} },
  { name: 'AdamW (amsgrad)', Tfjs: ours.AdamW, Core: core.AdamW, options: { amsgrad: true } },
  { name: 'Adam', Tfjs: ours.Adam, Core: core.Adam, options: { weightDecay: 0.01 } },
  { name: 'AdamW8bit', Tfjs: ours.AdamW8bit, Core: core.AdamW8bit, options: {} },
  { name: 'StableAdamW', Tfjs: ours.StableAdamW, Core: core.StableAdamW, options: {} },
] as const;

/** Seeded gradients per step; step 3's are 20× larger, so that StableAdamW's clipping engages. */
function gradients(seed: number): Float32Array[][] {
  const normal = seededNormal(seed);
  return Array.from({ length: STEPS }, (_, t) => SHAPES.map(({ shape }) => Float32Array.from({ length: numel(shape) }, () => normal() * (t === 2 ? 20 : 1))));
}

function initial(seed: number): Float32Array[] {
  const normal = seededNormal(seed);
  return SHAPES.map(({ shape }) => Float32Array.from({ length: numel(shape) }, () => normal() * 0.5));
}

/** Calls of GPUBuffer.prototype.mapAsync (every readback to the host goes through it) while `action` runs. */
function mapAsyncCalls(t: TestContext, action: () => void): number {
  let calls = 0;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with its buffer as `this`
  const original = GPUBuffer.prototype.mapAsync;
  const mock = t.mock.method(GPUBuffer.prototype, 'mapAsync', function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
    calls++;
    return original.apply(this, args);
  });
  try {
    action();
  } finally {
    mock.mock.restore();
  }
  return calls;
}

let unique = 0;
/** Variables of SHAPES holding `values`, each in a buffer of its own (the tensors they came from are disposed). */
function makeVariables(values: Float32Array[]): tf.Variable[] {
  unique++;
  return SHAPES.map(({ name, shape }, i) => tf.tidy(() => tf.variable(tf.tensor(values[i]!, shape), true, `gpu${unique}/${name}`)));
}

/** The core optimizer's trajectory on backend 'webgpu' (the same device) for the same gradients: params after each step, and its state. */
async function coreTrajectory(Core: (typeof GPU_PAIRS)[number]['Core'], options: object, device: GPUDevice, init: Float32Array[], grads: Float32Array[][]):
  Promise<{ after: Float32Array[][]; state: Array<Record<string, ArrayLike<number>>> }> {
  const params: core.Param[] = init.map((values, i) => ({ data: Float32Array.from(values), grad: new Float32Array(values.length), name: SHAPES[i]!.name }));
  const reference = new Core([{ params: params.slice(0, 2) }, { params: [params[2]!], weightDecay: 0 }], { ...OPTIONS, ...options, backend: 'webgpu', device });
  const after: Float32Array[][] = [];
  for (const step of grads) {
    params.forEach((p, i) => p.grad!.set(step[i]!));
    await reference.step();
    after.push(params.map((p) => (p.data as Float32Array).slice()));
  }
  const { state: byIndex } = await reference.stateDictAsync();
  const state = params.map((_, i) => byIndex[i] as unknown as Record<string, ArrayLike<number>>);
  reference.destroy();
  return { after, state };
}

describe("adamw-lab/tfjs on tfjs's webgpu backend (Dawn in Node)", () => {
  for (const { name, Tfjs, Core, options } of GPU_PAIRS) {
    it(`${name}: bit-identical to the core ${name} on backend 'webgpu', params after every step and the whole state, with no readback during a step`, async (t) => {
      const device = await useTfjsWebGpu(t);
      if (!device) return;
      try {
        const init = initial(21);
        const grads = gradients(22);
        const expected = await coreTrajectory(Core, options, device, init, grads);
        const variables = makeVariables(init);
        const opt = new Tfjs({ ...OPTIONS, ...options });
        opt.excludeFromWeightDecay({ varNames: ['bias'] });
        for (let step = 0; step < STEPS; step++) {
          const loss = linearLoss(variables, grads[step]!);
          assert.equal(mapAsyncCalls(t, () => opt.minimize(loss, false, variables)), 0, `step ${step + 1} read nothing back`);
          assert.equal(opt.executionPath, "wgsl kernels on tfjs's device, in place (tfjs backend 'webgpu')");
          for (const [i, v] of variables.entries()) {
            assert.deepEqual(bits(await v.data()), bits(expected.after[step]![i]!), `${name}, step ${step + 1}, ${SHAPES[i]!.name}`);
          }
        }
        const weights = await opt.getWeights();
        for (const [i, v] of variables.entries()) {
          const meta = weights.find((w) => w.name === `${v.name}/meta`)!;
          assert.deepEqual(Array.from(await meta.tensor.data()), [STEPS, v.size]);
          for (const [key, buffer] of Object.entries(expected.state[i]!)) {
            if (key === 'step') continue;
            const saved = weights.find((w) => w.name === `${v.name}/${key}`);
            assert.ok(saved, `${name}: ${v.name}/${key} is saved`);
            const raw = await saved.tensor.data();
            const got = saved.tensor.dtype === 'float32' ? raw : new (buffer.constructor as Uint8ArrayConstructor)(new Int32Array(raw).buffer, 0, buffer.length);
            assert.deepEqual(Array.from(got), Array.from(buffer), `${name}: ${key} of ${SHAPES[i]!.name}`);
          }
        }
        if (name === 'AdamW8bit') assert.ok(weights.some((w) => w.name.endsWith('kernel/state1')), '8-bit codes are saved');
        tf.dispose(weights.map((w) => w.tensor));
        opt.dispose();
        tf.dispose(variables);
      } finally {
        await useTfjsCpu();
      }
    });
  }

  it('save after 2 steps, load into a new optimizer, 2 more steps: the same bits as 4 steps without stopping (AdamW8bit, StableAdamW)', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      for (const { name, Tfjs, Core, options } of GPU_PAIRS.filter((p) => p.name === 'AdamW8bit' || p.name === 'StableAdamW')) {
        const init = initial(31);
        const grads = gradients(32);
        const expected = await coreTrajectory(Core, options, device, init, grads);
        const variables = makeVariables(init);
        let opt = new Tfjs({ ...OPTIONS, ...options });
        opt.excludeFromWeightDecay({ varNames: ['bias'] });
        for (let step = 0; step < STEPS; step++) {
          if (step === 2) {
            const saved = await opt.getWeights();
            opt.dispose();
            opt = new Tfjs({ ...OPTIONS, ...options });
            opt.excludeFromWeightDecay({ varNames: ['bias'] });
            await opt.setWeights(saved);
            tf.dispose(saved.map((w) => w.tensor));
          }
          opt.minimize(linearLoss(variables, grads[step]!), false, variables);
        }
        for (const [i, v] of variables.entries()) assert.deepEqual(bits(await v.data()), bits(expected.after[STEPS - 1]![i]!), `${name}: ${SHAPES[i]!.name} after resuming`);
        opt.dispose();
        tf.dispose(variables);
      }
    } finally {
      await useTfjsCpu();
    }
  });

  it('the next op sees the update (no await between them), and a buffer another tensor shares is copied first, never written', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      const normal = seededNormal(41);
      const start = Float32Array.from({ length: 10 }, normal);
      const grads = [Float32Array.from({ length: 10 }, normal), Float32Array.from({ length: 10 }, normal)];
      const expected = await coreTrajectory(core.AdamW, {}, device, [start, new Float32Array(21), new Float32Array(33)], grads.map((g) => [g, new Float32Array(21), new Float32Array(33)]));
      unique++;
      // tf.variable(t) shares t's buffer while t lives; a reshape of the variable shares it too.
      const source = tf.tensor1d(start);
      const v = tf.variable(source, true, `alias${unique}/v`);
      const view = v.reshape([2, 5]);
      const opt = new ours.AdamW(OPTIONS);
      const seen: tf.Tensor[] = [];
      for (const g of grads) {
        opt.minimize(linearLoss([v], [g]), false, [v]);
        seen.push(tf.mul(v, 1)); // encoded right after the step, with nothing awaited in between
      }
      for (const [step, y] of seen.entries()) assert.deepEqual(bits(await y.data()), bits(expected.after[step]![0]!), `the op after step ${step + 1} read the new values`);
      assert.deepEqual(bits(await source.data()), bits(start), 'the tensor the variable was made from is unchanged');
      assert.deepEqual(bits(await view.data()), bits(start), 'a reshape taken before the step is unchanged');
      opt.dispose();
      tf.dispose([source, v, view, ...seen]);
    } finally {
      await useTfjsCpu();
    }
  });

  it('a gradient that is a variable of the same call (itself, or another one) is read as it was before the step, as on the CPU', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      const normal = seededNormal(51);
      const a0 = Float32Array.from({ length: 12 }, normal);
      const b0 = Float32Array.from({ length: 12 }, normal);
      // g(a) = b and g(b) = a, read before either is written; then g(a) = a.
      const swapped = await coreTrajectory(core.AdamW, {}, device, [a0, b0, new Float32Array(33)], [[b0, a0, new Float32Array(33)]]);
      const itself = await coreTrajectory(core.AdamW, {}, device, [a0, new Float32Array(21), new Float32Array(33)], [[a0, new Float32Array(21), new Float32Array(33)]]);
      unique++;
      const [a, b] = [tf.variable(tf.tensor1d(a0), true, `cross${unique}/a`), tf.variable(tf.tensor1d(b0), true, `cross${unique}/b`)];
      const opt = new ours.AdamW(OPTIONS);
      opt.applyGradients({ [a.name]: b, [b.name]: a });
      assert.deepEqual(bits(await a.data()), bits(swapped.after[0]![0]!), 'a stepped with b before the step');
      assert.deepEqual(bits(await b.data()), bits(swapped.after[0]![1]!), 'b stepped with a before the step');
      const c = tf.tidy(() => tf.variable(tf.tensor1d(a0), true, `self${unique}/c`)); // its buffer its own alone
      opt.applyGradients({ [c.name]: c });
      assert.deepEqual(bits(await c.data()), bits(itself.after[0]![0]!), 'c stepped with its own values as gradient');
      opt.dispose();
      tf.dispose([a, b, c]);
    } finally {
      await useTfjsCpu();
    }
  });

  it("a refused step (a variable's data not in a GPUBuffer) creates no state for the variables before it, and changes nothing", async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    unique++;
    const good = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, `refuse${unique}/good`);
    const bad = tf.variable(tf.tensor1d([5, 6, 7, 8]), true, `refuse${unique}/bad`);
    const opt = new ours.AdamW(OPTIONS);
    // tfjs-backend-webgpu holds some tensors in a GPUTexture (imported video frames); stand in for one.
    const backend = tf.backend() as unknown as { tensorMap: { get(id: object): { resource: unknown } } };
    const badData = backend.tensorMap.get(bad.dataId);
    const buffer = badData.resource;
    badData.resource = { label: 'a GPUTexture stand-in' };
    try {
      const grads = { [good.name]: tf.tensor1d([1, -1, 1, -1]), [bad.name]: tf.tensor1d([1, 1, 1, 1]) };
      assert.throws(() => opt.applyGradients(grads), /AdamW: applyGradients: variable "refuse\d+\/bad" has its data in a .*, not a GPUBuffer; adamw-lab runs its kernels/);
      badData.resource = buffer;
      tf.dispose(Object.values(grads));
      const weights = await opt.getWeights();
      assert.deepEqual(weights.map((w) => w.name), ['iter'], 'no state was created');
      tf.dispose(weights.map((w) => w.tensor));
      assert.equal(opt.iterations, 0);
      assert.deepEqual(Array.from(await good.data()), [1, 2, 3, 4]);
    } finally {
      badData.resource ??= buffer;
      opt.dispose();
      tf.dispose([good, bad]);
      await useTfjsCpu();
    }
  });

  it('a read of a variable in flight across a step leaves no stale copy: later reads (data, array, an op) see the new values', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      const normal = seededNormal(61);
      const start = Float32Array.from({ length: 8 }, normal);
      const grads = Array.from({ length: 3 }, () => Float32Array.from({ length: 8 }, normal));
      const expected = await coreTrajectory(core.AdamW, {}, device, [start, new Float32Array(21), new Float32Array(33)], grads.map((g) => [g, new Float32Array(21), new Float32Array(33)]));
      unique++;
      const v = tf.variable(tf.tensor1d(start), true, `stale${unique}/v`);
      const opt = new ours.AdamW(OPTIONS);
      opt.minimize(linearLoss([v], [grads[0]!]), false, [v]);
      // A read back from the GPU, which tfjs caches on the CPU ...
      assert.deepEqual(bits(await v.data()), bits(expected.after[0]![0]!));
      opt.minimize(linearLoss([v], [grads[1]!]), false, [v]);
      // ... is dropped by the step, so this read goes to the GPU; it is still in flight when step 3 runs.
      const inFlight = v.data();
      opt.minimize(linearLoss([v], [grads[2]!]), false, [v]);
      assert.deepEqual(bits(await inFlight), bits(expected.after[1]![0]!), 'the read started before step 3 gives the values before it');
      const after = bits(expected.after[2]![0]!);
      assert.deepEqual(bits(await v.data()), after, 'data() after the in-flight read');
      assert.deepEqual(bits(await v.array()), after, 'array()');
      const y = tf.add(v, 0);
      assert.deepEqual(bits(await y.data()), after, 'an op');
      opt.dispose();
      tf.dispose([v, y]);
    } finally {
      await useTfjsCpu();
    }
  });

  it('state is keyed by variable: a newcomer gets fresh state, a disposed variable\'s state is released and no longer saved', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      const normal = seededNormal(71);
      const draw = (n: number): Float32Array => Float32Array.from({ length: n }, normal);
      unique++;
      // a has 21 elements (stepped in padded buffers), b has 8.
      const a = tf.tidy(() => tf.variable(tf.tensor1d(draw(21)), true, `keyed${unique}/a`));
      const b0 = draw(8);
      const b = tf.tidy(() => tf.variable(tf.tensor1d(b0), true, `keyed${unique}/b`));
      const pb: core.Param = { data: Float32Array.from(b0), grad: new Float32Array(8) };
      const refB = new core.AdamW([pb], { ...OPTIONS, backend: 'webgpu', device });
      const opt = new ours.AdamW(OPTIONS);
      opt.minimize(linearLoss([a], [draw(21)]), false, [a]);
      // b's first step is its step 1, with zeroed moments, though the optimizer has stepped before.
      for (const vars of [[a, b], [b]]) {
        const g = vars.map((v) => draw(v.size));
        opt.minimize(linearLoss(vars, g), false, vars);
        pb.grad!.set(g[vars.indexOf(b)]!);
        await refB.step();
        if (vars.length === 2) a.dispose();
      }
      assert.deepEqual(bits(await b.data()), bits(pb.data), 'b equals the core AdamW that met it at the same step');
      const saved = await opt.getWeights();
      assert.deepEqual(saved.map((w) => w.name), ['iter', `${b.name}/meta`, `${b.name}/exp_avg`, `${b.name}/exp_avg_sq`], "the disposed a's state is gone");
      assert.deepEqual(Array.from(await saved[1]!.tensor.data()), [2, 8]);
      tf.dispose(saved.map((w) => w.tensor));
      refB.destroy();
      opt.dispose();
      b.dispose();
    } finally {
      await useTfjsCpu();
    }
  });

  it("an optimizer whose state is on one GPUDevice refuses to step when tfjs's webgpu backend runs on another, and nothing changes", async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, `device${unique}/v`);
    const opt = new ours.AdamW(OPTIONS);
    // A webgpu backend registered again (tf.removeBackend, then registerBackend) makes a new device; stand in for one.
    const backend = tf.backend() as unknown as { device: unknown };
    try {
      opt.minimize(linearLoss([v], [Float32Array.of(1, -1, 1, -1)]), false, [v]);
      const stepped = bits(await v.data());
      const grad = tf.tensor1d([1, 1, 1, 1]);
      backend.device = { label: 'another GPUDevice' };
      assert.throws(() => opt.applyGradients({ [v.name]: grad }),
        /AdamW: applyGradients: tfjs's webgpu backend runs on another GPUDevice than the one this optimizer's state lives on; .*save the state \(getWeights\) and load it \(setWeights\) into a new optimizer/);
      backend.device = device;
      grad.dispose();
      assert.deepEqual(bits(await v.data()), stepped);
      assert.equal(opt.iterations, 1);
    } finally {
      backend.device = device;
      opt.dispose();
      v.dispose();
      await useTfjsCpu();
    }
  });

  it('a step the device rejects (reported later) changes nothing and is not counted: the next step throws naming the error, the one after continues the trajectory', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    try {
      const normal = seededNormal(81);
      const start = Float32Array.from({ length: 8 }, normal);
      const [g1, g2, g3] = Array.from({ length: 3 }, () => Float32Array.from({ length: 8 }, normal));
      // The trajectory that counts only the steps that ran: g1, then g3.
      const expected = await coreTrajectory(core.AdamW, {}, device, [start, new Float32Array(21), new Float32Array(33)], [g1!, g3!].map((g) => [g, new Float32Array(21), new Float32Array(33)]));
      unique++;
      const v = tf.tidy(() => tf.variable(tf.tensor1d(start), true, `rejected${unique}/v`));
      const opt = new ours.AdamW(OPTIONS);
      opt.minimize(linearLoss([v], [g1!]), false, [v]);
      const data = (tf.backend() as unknown as { tensorMap: { get(id: object): { resource: unknown } } }).tensorMap.get(v.dataId);
      const buffer = data.resource;
      // A buffer without STORAGE usage cannot be bound to the kernels: the device rejects the step.
      const unbindable = device.createBuffer({ size: 32, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      const grad2 = tf.tensor1d(g2!);
      data.resource = unbindable;
      opt.applyGradients({ [v.name]: grad2 });
      data.resource = buffer;
      grad2.dispose();
      await device.queue.onSubmittedWorkDone();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const grad3 = tf.tensor1d(g3!);
      assert.throws(() => opt.applyGradients({ [v.name]: grad3 }), /AdamW: applyGradients: the WebGPU device reported an error in an earlier step \(the step: [\s\S]+\); that step changed neither the variables nor the state, and was not counted/);
      assert.equal(opt.iterations, 1);
      opt.applyGradients({ [v.name]: grad3 });
      assert.deepEqual(bits(await v.data()), bits(expected.after[1]![0]!), 'the step after the refusal is step 2');
      assert.equal(opt.iterations, 2);
      grad3.dispose();
      unbindable.destroy();
      opt.dispose();
      v.dispose();
    } finally {
      await useTfjsCpu();
    }
  });

  it('an optimizer whose state is on the webgpu device refuses to step on another tfjs backend, and nothing changes', async (t) => {
    const device = await useTfjsWebGpu(t);
    if (!device) return;
    unique++;
    const v = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, `switch${unique}/v`);
    const opt = new ours.AdamW(OPTIONS);
    try {
      opt.minimize(linearLoss([v], [Float32Array.of(1, 1, 1, 1)]), false, [v]);
      const stepped = await v.data();
      await useTfjsCpu();
      assert.throws(() => opt.minimize(linearLoss([v], [Float32Array.of(1, 1, 1, 1)]), false, [v]),
        /AdamW: applyGradients: this optimizer's state lives on tfjs's webgpu device, and tfjs's backend is now 'cpu'; step an optimizer on one kind of tfjs backend/);
      assert.deepEqual(bits(v.dataSync()), bits(stepped));
      assert.equal(opt.iterations, 1);
    } finally {
      opt.dispose();
      v.dispose();
      await useTfjsCpu();
    }
  });
});
