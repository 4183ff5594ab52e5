/**
 * adamw-lab/tfjs inside tfjs-layers: model.save(…, { includeOptimizer: true }), tf.loadLayersModel and
 * further fitting is bit-identical to never stopping, for every class; and a small classifier on a real
 * table (vega-datasets' penguins) trains with model.fit as well as tf.train.adam does, over several seeds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdamW } from '../src/tfjs/index.js';
import { REPO_ROOT, seededNormal } from './helpers.js';
import { bits, CLASS_PAIRS, useTfjsCpu, useTfjsWasm, useTfjsWebGpu } from './tfjs-helpers.js';

/** 64 inputs → 64 hidden (a 4096-element kernel: 8-bit state) → 1 output. */
function regressionModel(seed: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 64, inputShape: [64], activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

function regressionData(seed: number): { xs: tf.Tensor; ys: tf.Tensor } {
  const normal = seededNormal(seed);
  const x = Float32Array.from({ length: 32 * 64 }, normal);
  const y = Float32Array.from({ length: 32 }, (_, i) => Math.sin(x[i * 64]!) + 0.5 * x[i * 64 + 1]!);
  return { xs: tf.tensor2d(x, [32, 64]), ys: tf.tensor2d(y, [32, 1]) };
}

async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }), { includeOptimizer: true });
  return artifacts!;
}

/** Read asynchronously: tfjs's webgpu backend cannot read a GPU tensor synchronously in Node. */
async function weightBits(model: tfl.LayersModel): Promise<Uint32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => bits(await w.data())));
}

/** model.fit, save with the optimizer, tf.loadLayersModel, fit on, against fitting straight through: the same bits. */
function resumeTest({ name, Tfjs, options: variant }: (typeof CLASS_PAIRS)[number], backend: string, use?: (t: TestContext) => Promise<boolean>): void {
  it(`${name} on ${backend}: save with the optimizer, tf.loadLayersModel, fit on: bit-identical to never stopping`, async (t) => {
    if (use && !(await use(t))) return;
    const { xs, ys } = regressionData(3);
    const fit = { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 as const };
    const options = { lr: 1e-2, weightDecay: 0.05, ...variant };

    const straight = regressionModel(21);
    const straightOpt = new Tfjs(options);
    straightOpt.excludeFromWeightDecay({ varNames: ['bias'] });
    straight.compile({ optimizer: straightOpt, loss: 'meanSquaredError' });
    await straight.fit(xs, ys, { ...fit, epochs: 4 });

    const first = regressionModel(21);
    const firstOpt = new Tfjs(options);
    firstOpt.excludeFromWeightDecay({ varNames: ['bias'] });
    first.compile({ optimizer: firstOpt, loss: 'meanSquaredError' });
    await first.fit(xs, ys, fit);
    const artifacts = await saveToMemory(first);
    assert.equal((artifacts.trainingConfig!.optimizer_config as { class_name: string }).class_name, (Tfjs as { className: string }).className);
    const resumed = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    assert.ok(resumed.optimizer instanceof Tfjs, `the loaded model's optimizer is a ${name}`);
    assert.equal(resumed.optimizer.iterations, 8);
    await resumed.fit(xs, ys, fit);

    assert.deepEqual(await weightBits(resumed), await weightBits(straight));
    const untrained = regressionModel(21);
    const [initial, trained] = [await weightBits(untrained), await weightBits(straight)];
    initial.forEach((w, i) => assert.notDeepEqual(trained[i], w, `weight ${i} was trained`));
    untrained.dispose();
    const [a, b] = [await straight.optimizer.getWeights(), await resumed.optimizer.getWeights()];
    const values = (weights: typeof a): Promise<number[][]> => Promise.all(weights.map(async (w) => Array.from(await w.tensor.data())));
    assert.deepEqual(await values(b), await values(a), 'the whole optimizer state');
    for (const m of [straight, first, resumed]) {
      m.optimizer.dispose();
      m.dispose();
    }
    tf.dispose([xs, ys]);
  });
}

// On wasm the forward pass runs through XNNPACK, which caches packed weights per buffer: a resume that
// differs from the straight run there means a step left some op reading old weights.
describe('adamw-lab/tfjs with tfjs-layers models on the tfjs wasm backend', () => {
  before(useTfjsWasm);
  for (const pair of CLASS_PAIRS.filter((p) => p.name === 'AdamW' || p.name === 'AdamW8bit')) resumeTest(pair, 'wasm');
});

// On webgpu the step runs the WGSL kernels in place on the variables' buffers: a resume that differs
// from the straight run means a step was not ordered before the next forward pass, or state was lost.
describe("adamw-lab/tfjs with tfjs-layers models on tfjs's webgpu backend (Dawn)", () => {
  after(useTfjsCpu);
  for (const pair of CLASS_PAIRS.filter((p) => p.name === 'AdamW8bit' || p.name === 'StableAdamW')) {
    resumeTest(pair, 'webgpu', async (t) => (await useTfjsWebGpu(t)) !== undefined);
  }
});

describe('adamw-lab/tfjs with tfjs-layers models', () => {
  before(useTfjsCpu);

  for (const pair of CLASS_PAIRS) resumeTest(pair, 'cpu');

  it('one optimizer shared by two models: a saved and reloaded model gets its own variables\' state, by name (fit on: bit-identical)', async () => {
    const { xs, ys } = regressionData(4);
    const fit = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 as const };
    const shared = new AdamW({ lr: 1e-2, weightDecay: 0.05 });
    const [other, mine] = [regressionModel(31), regressionModel(41)];
    for (const m of [other, mine]) m.compile({ optimizer: shared, loss: 'meanSquaredError' });
    // The other model first, so its state comes first in the shared optimizer's weights.
    await other.fit(xs, ys, { ...fit, epochs: 3 });
    await mine.fit(xs, ys, fit);
    const resumed = await tfl.loadLayersModel(tf.io.fromMemory(await saveToMemory(mine)));
    await mine.fit(xs, ys, fit);
    await resumed.fit(xs, ys, fit);
    assert.deepEqual(await weightBits(resumed), await weightBits(mine));
    resumed.optimizer.dispose();
    shared.dispose();
    for (const m of [other, mine, resumed]) m.dispose();
    tf.dispose([xs, ys]);
  });

  it('penguins (vega-datasets): AdamW with model.fit matches tf.train.adam\'s loss and accuracy over 3 seeds', async () => {
    type Penguin = Record<string, string | number | null>;
    const rows = (JSON.parse(readFileSync(`${REPO_ROOT}/node_modules/vega-datasets/data/penguins.json`, 'utf8')) as Penguin[])
      .filter((r) => ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'].every((k) => typeof r[k] === 'number'));
    const features = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];
    const species = [...new Set(rows.map((r) => r.Species as string))].sort();
    assert.equal(species.length, 3);
    const columns = features.map((f) => rows.map((r) => r[f] as number));
    const stats = columns.map((c) => {
      const mean = c.reduce((a, b) => a + b, 0) / c.length;
      return { mean, std: Math.sqrt(c.reduce((a, b) => a + (b - mean) ** 2, 0) / c.length) };
    });
    const xs = tf.tensor2d(rows.flatMap((r) => features.map((f, j) => ((r[f] as number) - stats[j]!.mean) / stats[j]!.std)), [rows.length, 4]);
    const ys = tf.oneHot(tf.tensor1d(rows.map((r) => species.indexOf(r.Species as string)), 'int32'), 3);
    const train = async (seed: number, optimizer: tf.Optimizer): Promise<{ loss: number; accuracy: number }> => {
      const model = tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 16, inputShape: [4], activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
          tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 100 }) }),
        ],
      });
      model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const history = await model.fit(xs, ys, { epochs: 15, batchSize: 32, shuffle: false, verbose: 0 });
      const last = (key: string): number => history.history[key]!.at(-1) as number;
      const result = { loss: last('loss'), accuracy: last('acc') };
      optimizer.dispose();
      model.dispose();
      return result;
    };
    for (const seed of [1, 2, 3]) {
      const ours = await train(seed, new AdamW({ lr: 1e-2, weightDecay: 1e-2 }));
      const theirs = await train(seed, tf.train.adam(1e-2));
      assert.ok(ours.accuracy >= 0.95 && theirs.accuracy >= 0.95, `seed ${seed}: accuracy ours ${ours.accuracy}, tf.train.adam ${theirs.accuracy}`);
      assert.ok(Math.abs(ours.loss - theirs.loss) <= 0.1 * theirs.loss + 0.01, `seed ${seed}: loss ours ${ours.loss}, tf.train.adam ${theirs.loss}`);
    }
    tf.dispose([xs, ys]);
  });
});
