/**
 * The `adamw-lab/tfjs` entry: it imports by name (ESM and CommonJS, one copy), its types resolve under
 * node10 and nodenext, and the core `adamw-lab` entry never loads TensorFlow.js. Needs `npm run build:lib`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers.js';

function node(args: string[], cwd = REPO_ROOT): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/** One AdamW step on θ = 1 with g = 0.5 through tfjs; PyTorch's fp32 result has bits 0x3F7FBDCF (as the core's packaging test). */
const STEP = `
await tf.setBackend('cpu');
const v = tf.variable(tf.tensor1d([1]), true, 'w');
const opt = new AdamW();
opt.applyGradients({ w: tf.tensor1d([0.5]) });
console.log(new Uint32Array(v.dataSync().buffer)[0].toString(16));`;

describe('packaging of adamw-lab/tfjs', () => {
  it('the core entry loads no TensorFlow.js module (CommonJS and ESM)', () => {
    assert.equal(node(['-e', "require('adamw-lab'); console.log(Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length)"]), '0');
    const esm = node(['--input-type=module', '-e', `import 'adamw-lab'; import { createRequire } from 'node:module';
      console.log(Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@tensorflow')).length);`]);
    assert.equal(esm, '0');
  });

  it('a control: the tfjs entry does load TensorFlow.js (so the check above can fail)', () => {
    assert.notEqual(node(['-e', "require('adamw-lab/tfjs'); console.log(Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length)"]), '0');
  });

  it('ESM import (with tfjs-core) and CommonJS require (with the @tensorflow/tfjs umbrella) run a step, and share one class', () => {
    const esm = node(['--input-type=module', '-e', `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu';
      import { AdamW } from 'adamw-lab/tfjs';${STEP}`]);
    assert.equal(esm, '3f7fbdcf');
    const cjs = node(['-e', `const tf = require('@tensorflow/tfjs');
      const { AdamW } = require('adamw-lab/tfjs'); (async () => {${STEP}})();`]);
    assert.equal(cjs, '3f7fbdcf');
    const same = node(['--input-type=module', '-e', `import { AdamW } from 'adamw-lab/tfjs'; import { createRequire } from 'node:module';
      console.log(AdamW === createRequire(import.meta.url)('adamw-lab/tfjs').AdamW);`]);
    assert.equal(same, 'true');
  });

  it('a model saved with its optimizer loads in a fresh process once adamw-lab/tfjs is imported (registration on import); tfjs\'s own Adam still loads', () => {
    const dir = join(REPO_ROOT, 'build', 'tfjs-saved-models');
    mkdirSync(dir, { recursive: true });
    // Process 1 trains 2 steps and writes the artifacts (weights base64) to a JSON file; processes 2.. load it.
    const save = (optimizer: string, file: string): void => void node(['-e', `const tf = require('@tensorflow/tfjs'); const ours = require('adamw-lab/tfjs');
      (async () => { await tf.setBackend('cpu');
        const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })] });
        const opt = ${optimizer};
        model.compile({ optimizer: opt, loss: 'meanSquaredError' });
        await model.fit(tf.randomNormal([8, 3], 0, 1, 'float32', 2), tf.randomNormal([8, 4], 0, 1, 'float32', 3), { epochs: 2, verbose: 0 });
        await model.save(tf.io.withSaveHandler(async (a) => {
          require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'FILE'))}.replace('FILE', '${file}'), JSON.stringify({ ...a, weightData: Buffer.from(a.weightData).toString('base64') }));
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }), { includeOptimizer: true });
      })();`]);
    const load = (file: string, importOurs: boolean): string => node(['-e', `const tf = require('@tensorflow/tfjs');${importOurs ? " require('adamw-lab/tfjs');" : ''}
      (async () => { await tf.setBackend('cpu');
        const a = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(join(dir, 'FILE'))}.replace('FILE', '${file}'), 'utf8'));
        const bytes = Buffer.from(a.weightData, 'base64');
        try {
          const model = await tf.loadLayersModel(tf.io.fromMemory({ ...a, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }));
          const opt = model.optimizer;
          console.log([opt.getClassName(), opt.iterations, JSON.stringify(opt.excludedFromWeightDecay ?? null), (await opt.getWeights()).length].join(' '));
        } catch (e) { console.log('error: ' + e.message.split('.')[0]); }
      })();`]);
    save("new ours.AdamW({ lr: 0.01 }); opt.excludeFromWeightDecay({ varNames: ['bias'] })", 'ours.json');
    save('tf.train.adam(0.01)', 'tfjs-adam.json');
    // iter, then per variable (kernel, bias) meta, exp_avg, exp_avg_sq: 7 weights; tfjs's Adam: iter and m, v per variable.
    assert.equal(load('ours.json', true), 'adamw-lab.AdamW 2 ["bias"] 7');
    assert.equal(load('ours.json', false), 'error: Unknown layer: adamw-lab');
    assert.equal(load('tfjs-adam.json', true), 'Adam 2 null 5');
  });

  for (const [resolution, file, module] of [['node10', 'consumer.ts', 'commonjs'], ['nodenext', 'consumer.mts', 'nodenext']] as const) {
    it(`types of adamw-lab/tfjs resolve for a consumer with ${resolution} resolution`, () => {
      const dir = join(REPO_ROOT, 'build', `tfjs-consumer-${resolution}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), `import * as tf from '@tensorflow/tfjs-core';
import { AdamW, AdamW8bit } from 'adamw-lab/tfjs';
const opt: tf.Optimizer = new AdamW({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
new AdamW8bit({ weightDecay: 0 }).excludeFromWeightDecay({ varNames: ['bias'] });
// @ts-expect-error lr must be a number
new AdamW({ lr: 'fast' });
export const used = [opt];
`);
      const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
      node([tsc, '--noEmit', '--strict', '--skipLibCheck', '--types', 'node', '--module', module, '--moduleResolution', resolution, '--target', 'es2022', '--lib', 'es2022,dom', join(dir, file)], dir);
    });
  }
});
