/** The arena allocator behind createParam and the CPU backend's state. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Arena, allocateInArena, arenaOf, releaseFromArena } from '../src/backends/cpu/arena.js';
import { AdamW, createParam, releaseParam } from '../src/index.js';
import { seededRandom } from './helpers.js';

describe('arena', () => {
  it('hands out zeroed, 64-byte aligned, non-overlapping views; reuses and coalesces freed ranges', () => {
    const arena = new Arena(new WebAssembly.Memory({ initial: 2, maximum: 1024, shared: true }), true);
    const random = seededRandom(5);
    const live: Float32Array[] = [];
    for (let round = 0; round < 400; round++) {
      if (live.length > 0 && random() < 0.4) {
        const [view] = live.splice(Math.floor(random() * live.length), 1);
        arena.release(view!);
      } else {
        const length = 1 + Math.floor(random() * 5000);
        const offset = arena.tryAllocateBytes(length * 4)!; // may grow the memory: take its buffer after
        const view = new Float32Array(arena.memory.buffer, offset, length);
        assert.equal(view.byteOffset % 64, 0);
        assert.ok(view.every((x) => x === 0), 'zeroed');
        view.fill(round + 1);
        live.push(view);
      }
      // No two live views overlap: each still holds the value it was filled with.
      const ranges = live.map((v) => [v.byteOffset, v.byteOffset + v.byteLength] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i - 1]![1] <= ranges[i]![0], 'overlap');
    }
    for (const v of live) arena.release(v);
    assert.equal(arena.bytesInUse, 0);
    // Everything freed coalesces back: one allocation of the whole used space fits again without growing.
    const size = arena.memory.buffer.byteLength;
    assert.notEqual(arena.tryAllocateBytes(size - 65536), null);
    assert.equal(arena.memory.buffer.byteLength, size);
  });

  it('views stay valid while the shared memory grows', () => {
    const first = allocateInArena(1000);
    first.set(Array.from({ length: 1000 }, (_, i) => i * 0.5));
    const big = allocateInArena(8_000_000, first); // forces growth of the same arena
    assert.equal(arenaOf(big), arenaOf(first));
    assert.equal(first[999], 499.5);
    releaseFromArena(big);
    releaseFromArena(first);
  });

  it('optimizer state is placed beside createParam params, and destroy() returns it', async () => {
    const p = createParam(4096, 'w');
    const arena = arenaOf(p.data)!;
    const inUse = arena.bytesInUse;
    p.grad.fill(0.25);
    const opt = new AdamW([p], { amsgrad: true });
    await opt.step();
    assert.equal(opt.stateBytes(), 3 * 4096 * 4);
    assert.equal(arena.bytesInUse, inUse + 3 * 4096 * 4, 'exp_avg, exp_avg_sq and max_exp_avg_sq live in the param arena');
    opt.destroy();
    assert.equal(arena.bytesInUse, inUse);
    releaseParam(p);
    assert.throws(() => createParam(-1), /createParam: values: -1 is invalid/);
  });

  it('stateBytes is 8 bytes per param for AdamW (the seed\'s 8|θ|), 12 with amsgrad', async () => {
    const params = [createParam(1000), createParam(24)];
    const opt = new AdamW(params);
    assert.equal(opt.stateBytes(), 0, 'state is created lazily at the first step');
    await opt.step();
    assert.equal(opt.stateBytes(), 8 * 1024);
    opt.destroy();
    params.forEach(releaseParam);
  });
});
