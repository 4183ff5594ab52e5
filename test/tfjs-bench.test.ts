/** `npm run bench:tfjs` runs end to end at a tiny size and writes its JSON where --out says. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO_ROOT, scratchDirectory } from './helpers.js';

it('bench:tfjs smoke run: cpu and wasm, and webgpu or the reason it was skipped; both optimizers, positive times', () => {
  const out = join(scratchDirectory('bench-tfjs-'), 'tfjs.json');
  execFileSync(process.execPath, ['--import', 'tsx', 'bench/tfjs.ts', '--sizes=4096', '--reps=1', `--out=${out}`], { cwd: REPO_ROOT, stdio: 'ignore' });
  const result = JSON.parse(readFileSync(out, 'utf8')) as {
    rows: Array<{ backend: string; params: number; ours: { medianMs: number }; tfAdam: { medianMs: number } }>;
    skipped: Array<{ backend: string; reason: string }>;
  };
  const webgpuSkipped = result.skipped.find((s) => s.backend === 'webgpu');
  if (webgpuSkipped) assert.match(webgpuSkipped.reason, /no WebGPU adapter|could not be loaded/);
  assert.deepEqual(result.rows.map((r) => [r.backend, r.params]), [['cpu', 4096], ['wasm', 4096], ...(webgpuSkipped ? [] : [['webgpu', 4096]])]);
  for (const r of result.rows) assert.ok(r.ours.medianMs > 0 && r.tfAdam.medianMs > 0, JSON.stringify(r));
});
