/**
 * Leaks: 1000 rounds of create, step and destroy per backend, with plain Float32Array params and
 * with 8-bit and paged state, keep the process's resident memory and open file descriptors bounded;
 * and a PagedAdamW never destroyed leaves no spill file once its process exits. Each backend runs in
 * a child process (test/leak-rounds.ts) with --expose-gc, so the numbers are this workload's alone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import type { BackendName } from '../src/index.js';
import { needsWebGpuAdapter, REPO_ROOT, scratchDirectory } from './helpers.js';

const ROUNDS = 1000;
/**
 * Growth allowed between round 100 and round 1000. Before the CPU backend gave back its staging
 * buffer and 8-bit tables on destroy(), 1000 rounds grew by 121 MiB (AdamW) to 605 MiB (AdamW8bit);
 * what remains is the allocator's and the JavaScript heap's settling (WebGPU on SwiftShader: ~30 MiB).
 */
const RSS_GROWTH_LIMIT = 48 * 2 ** 20;
/** Descriptors may differ by a couple (libuv's or a runtime's lazily opened handles), never grow per round. */
const FD_GROWTH_LIMIT = 2;

interface Usage {
  rssBytes: number;
  fds: number;
}

// The backends' child processes run side by side: each measures only its own process.
describe(`${ROUNDS} rounds of create, step and destroy per backend (plain arrays, 8-bit state, paged state)`, { concurrency: true }, () => {
  for (const backend of ['cpu', 'js', 'onnx', 'webgpu'] as BackendName[]) {
    it(`${backend}: resident memory and open file descriptors stay bounded; a never-destroyed optimizer leaves no spill file`, async (t) => {
      if (backend === 'webgpu' && !(await needsWebGpuAdapter(t))) return;
      const directory = scratchDirectory('adamw-lab-leaks-');
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'test/leak-rounds.ts'), backend, String(ROUNDS), directory], {
        cwd: REPO_ROOT, env: process.env, maxBuffer: 1 << 20,
      });
      const { warm, end, liveSpillDirectories } = JSON.parse(stdout.trim().split('\n').pop()!) as { warm: Usage; end: Usage; liveSpillDirectories: number };
      const growth = end.rssBytes - warm.rssBytes;
      t.diagnostic(`${backend}: RSS ${(warm.rssBytes / 2 ** 20).toFixed(1)} → ${(end.rssBytes / 2 ** 20).toFixed(1)} MiB, fds ${warm.fds} → ${end.fds}`);
      assert.ok(growth < RSS_GROWTH_LIMIT, `${backend}: RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB over rounds 100..${ROUNDS} (limit ${RSS_GROWTH_LIMIT / 2 ** 20} MiB)`);
      assert.ok(end.fds - warm.fds <= FD_GROWTH_LIMIT, `${backend}: open file descriptors went from ${warm.fds} to ${end.fds}`);
      assert.equal(liveSpillDirectories, 1, 'the never-destroyed PagedAdamW had its spill directory while alive');
      assert.deepEqual(readdirSync(directory), [], 'the spill directory outlived the process');
    });
  }
});
