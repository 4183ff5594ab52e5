/**
 * The device kit (scripts/device/): cheap checks that make-kit and run-kit.sh agree, and that the
 * bundles build and keep the native addons outside, to load from the kit's node_modules. The full
 * rehearsal (`npm run device:kit`, then run-kit.sh from an empty folder on SwiftShader) takes minutes:
 * the README's GPU benchmark section says how to run it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { bundleInto, KIT_ARCHIVE, KIT_BUNDLES } from '../scripts/device/make-kit.js';
import { REPO_ROOT } from './helpers.js';

const RUN_KIT = join(REPO_ROOT, 'scripts', 'device', 'run-kit.sh');

describe('device kit', () => {
  it('run-kit.sh is valid bash and runs what make-kit puts in the kit, from where make-kit writes it', () => {
    assert.equal(spawnSync('bash', ['-n', RUN_KIT]).status, 0);
    const script = readFileSync(RUN_KIT, 'utf8');
    for (const { out } of KIT_BUNDLES) assert.ok(script.includes(`$work/${out}`), `run-kit.sh never runs ${out}`);
    assert.ok(script.includes('$work/bench/torch_adamw_cuda.py'));
    assert.ok(script.includes(`$repo/${relative(REPO_ROOT, KIT_ARCHIVE)}`), 'run-kit.sh looks for the kit where make-kit writes it');
  });

  it('run-kit.sh refuses an unknown argument and a missing OUT, naming what is allowed, before unpacking anything', () => {
    const unknown = spawnSync('bash', [RUN_KIT, '--size=1M'], { encoding: 'utf8', env: { ...process.env, OUT: join(tmpdir(), 'unused') } });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /run-kit\.sh: unknown argument '--size=1M' \(allowed: --sizes=LIST, --kit=PATH\)/);
    const env = { ...process.env };
    delete env.OUT;
    const noOut = spawnSync('bash', [RUN_KIT], { encoding: 'utf8', env });
    assert.notEqual(noOut.status, 0);
    assert.match(noOut.stderr, /OUT: set OUT to the folder that receives the results/);
  });

  it('the bundles build, with webgpu and onnxruntime-node left to the kit\'s node_modules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'device-kit-'));
    try {
      bundleInto(dir);
      for (const { out } of KIT_BUNDLES) {
        const code = readFileSync(join(dir, out), 'utf8');
        assert.match(code, /require\.resolve\("webgpu\/package\.json"\)/, `${out} resolves webgpu at run time`);
        assert.match(code, /require\("onnxruntime-node"\)/, `${out} loads onnxruntime-node at run time`);
        assert.doesNotMatch(code, /onnxruntime-common/, `${out} does not inline onnxruntime-node's JavaScript`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
