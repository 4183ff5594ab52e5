/**
 * backend 'webgpu' in CI, on chromium's SwiftShader Vulkan driver (.ci/run installs it): one optimizer
 * matches the CPU backend over 20 steps, params and moments. It runs in a child process because
 * SwiftShader aborts intermittently on this project's sandboxed machines (see test/webgpu.test.ts);
 * a child that dies natively is run again, at most three times, while a wrong number fails at once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO_ROOT } from './helpers.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const hasDriver = existsSync(SWIFTSHADER) && ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some(existsSync);

it('webgpu matches the cpu backend over 20 steps (SwiftShader)', { skip: !hasDriver && 'chromium (SwiftShader) or libvulkan1 is not installed; .ci/run installs both' }, () => {
  const attempts: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'webgpu-smoke-child.ts')], {
      cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER },
    });
    const verdict = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status === 0 && verdict.startsWith('{')) {
      const { worst, description } = JSON.parse(verdict) as { worst: number; description: string };
      assert.match(description, /^webgpu \(/);
      assert.ok(worst < 1e-5, `webgpu departs from cpu by ${worst} (relative)`);
      return;
    }
    const native = child.signal !== null || /futex|Assertion .* failed|terminate called|std::system_error/.test(child.stderr);
    attempts.push(`attempt ${attempt}: status ${child.status}, signal ${child.signal}: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    if (!native) break; // a JavaScript error is ours: never retried
  }
  assert.fail(`the webgpu child did not finish:\n${attempts.join('\n')}`);
});
