/**
 * Paged state (PagedAdamW, PagedAdamW8bit): bit-identical to unpaged, next page prefetched while the
 * current one updates, resident state within the budget (counted and measured from process memory).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AdamW, AdamW8bit, PagedAdamW, PagedAdamW8bit, toBf16, type BackendName, type Param } from '../src/index.js';
import type { UpdateTask } from '../src/backends/backend.js';
import { JsBackend } from '../src/backends/js.js';
import { PagedStore } from '../src/optim/paging.js';
import { planTensor } from '../src/optim/variants.js';
import { seededNormal } from './helpers.js';

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
    const plan = planTensor('test', 'p', {}, 'f32', 10_000, false);
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
});
