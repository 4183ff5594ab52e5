/**
 * Paged state (PagedAdamW, PagedAdamW8bit): bit-identical to unpaged, next page prefetched while the
 * current one updates, resident state within the budget (counted and measured from process memory).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AdamW, AdamW8bit, PagedAdamW, PagedAdamW8bit, toBf16, type BackendName, type Param } from '../src/index.js';
import type { UpdateTask } from '../src/backends/backend.js';
import { JsBackend } from '../src/backends/js.js';
import { PagedStore } from '../src/optim/paging.js';
import { planTensor } from '../src/core/variants.js';
import { REPO_ROOT, seededNormal, scratchDirectory } from './helpers.js';

function params(seed: number, lengths: number[], bf16 = false): Param[] {
  const normal = seededNormal(seed);
  return lengths.map((n) => {
    const values = Float32Array.from({ length: n }, normal);
    return bf16 ? { data: toBf16(values), dtype: 'bf16' as const, grad: new Float32Array(n) } : { data: values, grad: new Float32Array(n) };
  });
}

async function trajectory(make: (ps: Param[]) => AdamW, lengths: number[], bf16 = false, steps = 4): Promise<{ data: number[][]; state: string }> {
  const ps = params(11, lengths, bf16);
  const opt = make(ps);
  const normal = seededNormal(12);
  for (let t = 0; t < steps; t++) {
    for (const p of ps) (p.grad as Float32Array).set(Float32Array.from({ length: p.data.length }, normal));
    await opt.step();
  }
  const sd = opt.stateDict();
  opt.destroy();
  return {
    data: ps.map((p) => Array.from(p.data)),
    state: JSON.stringify(Object.values(sd.state).map((s) => Object.entries(s as unknown as Record<string, number | ArrayLike<number>>).map(([k, v]) => [k, typeof v === 'number' ? v : Array.from(v)]))),
  };
}

const LENGTHS = [5000, 300, 20_000, 4096];
const SMALL_BUDGET = { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 };

for (const backend of ['cpu', 'js'] as BackendName[]) {
  describe(`paged state is bit-identical to unpaged (${backend})`, () => {
    it('PagedAdamW vs AdamW, many pages across four tensors', async () => {
      const paged = await trajectory((ps) => new PagedAdamW(ps, { backend, paged: SMALL_BUDGET }), LENGTHS);
      const plain = await trajectory((ps) => new AdamW(ps, { backend }), LENGTHS);
      assert.deepEqual(paged.data, plain.data);
      assert.equal(paged.state, plain.state);
    });
    it('PagedAdamW8bit vs AdamW8bit (pages are whole 256-element blocks)', async () => {
      const paged = await trajectory((ps) => new PagedAdamW8bit(ps, { backend, paged: SMALL_BUDGET }), LENGTHS);
      const plain = await trajectory((ps) => new AdamW8bit(ps, { backend }), LENGTHS);
      assert.deepEqual(paged.data, plain.data);
      assert.equal(paged.state, plain.state);
    });
    it('paged bf16 AdamW with Kahan vs unpaged', async () => {
      const paged = await trajectory((ps) => new AdamW(ps, { backend, paged: SMALL_BUDGET }), LENGTHS, true);
      const plain = await trajectory((ps) => new AdamW(ps, { backend }), LENGTHS, true);
      assert.deepEqual(paged.data, plain.data);
      assert.equal(paged.state, plain.state);
    });
  });
}

describe('paging mechanics', () => {
  it('the next page is requested before the current page updates, and the ring stays within the budget', async () => {
    const seen: Array<{ requested: number; read: number }> = [];
    class Recording extends JsBackend {
      store?: PagedStore;
      override step(tasks: readonly UpdateTask[]): Promise<void> {
        seen.push({ requested: this.store!.stats.pagesRequested, read: this.store!.stats.pagesRead });
        return super.step(tasks);
      }
    }
    const backend = new Recording();
    const store = new PagedStore('test', backend, { budgetBytes: 48 * 1024, pageBytes: 8 * 1024 });
    backend.store = store;
    const param: Param = { data: new Float32Array(10_000).fill(1), grad: new Float32Array(10_000).fill(0.5) };
    const plan = planTensor('test', 'p', {}, 'fp32', 10_000, false);
    const state = store.create(param, plan);
    const hp = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' as const };
    await store.run([{ state, param, hp, step: 1 }]);
    const pages = Math.ceil(10_000 / 1024); // 8 KiB pages of 8 bytes per element: 1024 elements
    assert.equal(seen.length, pages);
    seen.forEach(({ requested, read }, i) => {
      assert.ok(read >= i + 1, `page ${i} was read before it updated`);
      if (i + 1 < pages) assert.equal(requested, i + 2, `page ${i + 1} was requested before page ${i} updated`);
    });
    assert.equal(store.stats.pagesWritten, pages);
    assert.ok(store.stats.peakResidentBytes <= store.stats.budgetBytes, `${store.stats.peakResidentBytes} > ${store.stats.budgetBytes}`);
    // The state came back from the file: every element moved by the same first Adam step.
    const values = store.read(state).exp_avg as Float32Array;
    assert.ok(values.every((m) => Math.abs(m - 0.05) < 1e-7));
    store.close();
  });

  it('a budget that cannot hold two pages is refused; the spill file is removed on destroy()', () => {
    assert.throws(() => new PagedAdamW([{ data: new Float32Array(4) }], { paged: { budgetBytes: 1000, pageBytes: 800 } }), /PagedAdamW: options: paged.budgetBytes = 1000 holds fewer than two pages of 800 bytes/);
    assert.throws(() => new PagedAdamW([{ data: new Float32Array(4) }], { paged: { budgetBytes: 100, pageBytes: 800 } }), /paged.pageBytes = 800 exceeds paged.budgetBytes = 100/);
    const opt = new PagedAdamW([{ data: new Float32Array(4) }]);
    const file = /spill file (\S+)/.exec(opt.stateStorage)![1]!;
    assert.ok(existsSync(file));
    opt.destroy();
    assert.ok(!existsSync(file));
  });

  it('peak resident memory stays within budget + one page, measured from the process while 256 MiB of state is paged', async () => {
    const n = 32 * 1024 * 1024; // 8 bytes of state per param: 256 MiB of state
    const budgetBytes = 16 * 1024 * 1024;
    const pageBytes = 4 * 1024 * 1024;
    const param = { data: new Float32Array(n).fill(1), grad: new Float32Array(n).fill(0.25) };
    const opt = new PagedAdamW([param], { paged: { budgetBytes, pageBytes } });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 1);
    for (let t = 0; t < 2; t++) {
      await opt.step();
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    clearInterval(sampler);
    const stats = opt.pagingStats!;
    assert.equal(opt.stateBytes(), 8 * n);
    assert.ok(stats.peakResidentBytes <= budgetBytes, `frames ${stats.peakResidentBytes} > budget ${budgetBytes}`);
    const growth = peak - before;
    // The process may grow by the frames (≤ budget) plus one page of I/O in flight, and a little for
    // the JavaScript heap; it must not grow by anything near the 256 MiB of state.
    const slack = 16 * 1024 * 1024;
    assert.ok(growth <= budgetBytes + pageBytes + slack, `resident memory grew by ${(growth / 2 ** 20).toFixed(1)} MiB (budget ${budgetBytes / 2 ** 20} MiB + page ${pageBytes / 2 ** 20} MiB + slack ${slack / 2 ** 20} MiB)`);
    opt.destroy();
  });

  describe('a spill file changed between steps is refused, not read as wrong state', () => {
    async function steppedPaged(): Promise<{ opt: PagedAdamW; file: string; ps: Param[] }> {
      const ps = params(21, [65_536]);
      const opt = new PagedAdamW(ps, { paged: SMALL_BUDGET });
      (ps[0]!.grad as Float32Array).set(params(22, [65_536])[0]!.data);
      await opt.step();
      return { opt, ps, file: /spill file (\S+)/.exec(opt.stateStorage)![1]! };
    }
    const refusal = (what: RegExp) => (e: Error) => {
      assert.match(e.message, /^PagedAdamW: paged state: spill file ".*state\.bin": /);
      assert.match(e.message, what);
      assert.match(e.message, /the state is lost: do not touch the spill file/);
      return true;
    };
    it('truncated: the step is refused before any param moves', async () => {
      const { opt, ps, file } = await steppedPaged();
      truncateSync(file, 4096);
      const before = ps[0]!.data.slice();
      await assert.rejects(opt.step(), refusal(/it is 4096 bytes, but the state written to it takes 524288 \(truncated\)/));
      assert.deepEqual(ps[0]!.data, before);
      assert.throws(() => opt.stateDict(), refusal(/truncated/));
      opt.destroy();
    });
    it('overwritten in the middle: the page checksum refuses it (step and stateDict)', async () => {
      const { opt, file } = await steppedPaged();
      const fd = openSync(file, 'r+');
      writeSync(fd, new Uint8Array(64).fill(0x3f), 0, 64, 200_000);
      closeSync(fd);
      await assert.rejects(opt.step(), refusal(/page \d+ of a param's state \(\d+ elements a page\) differs from what was written to it/));
      assert.throws(() => opt.stateDict(), refusal(/differs from what was written/));
      opt.destroy();
    });
    it('a page never written must still read as zeros', () => {
      const store = new PagedStore('test', new JsBackend(), { budgetBytes: 48 * 1024, pageBytes: 8 * 1024 });
      const state = store.create({ data: new Float32Array(10_000) }, planTensor('test', 'p', {}, 'fp32', 10_000, false));
      const file = /spill file (\S+)/.exec(store.description)![1]!;
      const fd = openSync(file, 'r+');
      writeSync(fd, Float32Array.of(1), 0, 4, 2 * 1024 * 4); // into the third page of exp_avg
      closeSync(fd);
      assert.throws(() => store.read(state), /^Error: test: paged state: spill file ".*": page 2 of a param's state \(1024 elements a page\) differs from what was written to it/);
      store.close();
    });
  });

  it('a budget smaller than one page is refused by the constructor, which leaves no spill directory', () => {
    const parent = scratchDirectory('adamw-lab-test-');
    const data = new Float32Array(4096);
    assert.throws(() => new PagedAdamW([{ data, grad: data }], { paged: { budgetBytes: 1000, directory: parent } }),
      /^RangeError: PagedAdamW: options: paged.budgetBytes = 1000 gives pages of 250 bytes, less than one 256-element block of state \(up to 3072 bytes\); paged.budgetBytes must be at least 12288$/);
    assert.throws(() => new PagedAdamW([{ data, grad: data }], { paged: { budgetBytes: 4000, pageBytes: 2000, directory: parent } }),
      /^RangeError: PagedAdamW: options: paged.pageBytes = 2000 is less than one 256-element block of state \(up to 3072 bytes\); paged.pageBytes must be at least 3072$/);
    assert.deepEqual(readdirSync(parent), []);
    // The smallest budget allowed steps (one block per page), so no step is refused for its budget.
    const ok = new PagedAdamW([{ data: data.slice(), grad: data.slice().fill(1) }], { paged: { budgetBytes: 4 * 3072, directory: parent } });
    return ok.step().then(() => ok.destroy());
  });

  it('a process that never calls destroy() leaves no spill file behind when it exits', () => {
    const parent = scratchDirectory('adamw-lab-test-');
    const script = `
      const { PagedAdamW } = require(${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))});
      const data = new Float32Array(65536).fill(1);
      const opt = new PagedAdamW([{ data, grad: new Float32Array(65536).fill(0.5) }], { paged: { budgetBytes: 65536, directory: ${JSON.stringify(parent)} } });
      opt.step().then(() => {
        const fs = require('node:fs');
        if (fs.readdirSync(${JSON.stringify(parent)}).length !== 1) throw new Error('no spill directory while stepping');
        console.log('stepped, exiting without destroy()');
      });`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.match(out, /stepped, exiting without destroy\(\)/);
    assert.deepEqual(readdirSync(parent), []);
  });
});
