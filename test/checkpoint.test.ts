/**
 * Checkpoints: safetensors readable from Python, atomic writes, detection of truncated or altered
 * files (which leave the optimizer unchanged), and bit-identical resumption for every preset on every
 * backend.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  Adam, AdamW, AdamW8bit, AdamW8bitKahan, PagedAdamW, PagedAdamW8bit, StableAdamW, toBf16,
  type AdamOptimizer, type BackendName, type OptimizerOptions, type Param,
} from '../src/index.js';
import { writeFileAtomic } from '../src/checkpoint/file-io.js';
import { needsWebGpuAdapter, REPO_ROOT, seededNormal, scratchDirectory } from './helpers.js';

const dir = scratchDirectory('adamw-lab-test-');

type Make = (params: Param[], options: OptimizerOptions) => AdamOptimizer;
const PRESETS: Array<{ name: string; make: Make; bf16?: boolean }> = [
  { name: 'AdamW', make: (p, o) => new AdamW(p, o) },
  { name: 'AdamW amsgrad', make: (p, o) => new AdamW(p, { ...o, amsgrad: true }) },
  { name: 'Adam', make: (p, o) => new Adam(p, { ...o, weightDecay: 0.01 }) },
  { name: 'AdamW8bit', make: (p, o) => new AdamW8bit(p, o) },
  { name: 'PagedAdamW', make: (p, o) => new PagedAdamW(p, { ...o, paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } }) },
  { name: 'PagedAdamW8bit', make: (p, o) => new PagedAdamW8bit(p, { ...o, paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } }) },
  { name: 'StableAdamW', make: (p, o) => new StableAdamW(p, o) },
  { name: 'AdamW (bf16, Kahan)', make: (p, o) => new AdamW(p, o), bf16: true },
  { name: 'AdamW8bitKahan', make: (p, o) => new AdamW8bitKahan(p, { ...o, stabilize: true }), bf16: true },
];
const LENGTHS = [5000, 77, 4096];

function makeParams(bf16: boolean): Param[] {
  const normal = seededNormal(3);
  return LENGTHS.map((n, i) => {
    const values = Float32Array.from({ length: n }, normal);
    return bf16 ? { data: toBf16(values), dtype: 'bf16' as const, grad: new Float32Array(n), name: `w${i}` } : { data: values, grad: new Float32Array(n), name: `w${i}` };
  });
}

function gradients(steps: number): Float32Array[][] {
  const normal = seededNormal(4);
  return Array.from({ length: steps }, () => LENGTHS.map((n) => Float32Array.from({ length: n }, normal)));
}

async function run(opt: AdamOptimizer, params: Param[], grads: Float32Array[][]): Promise<void> {
  for (const step of grads) {
    params.forEach((p, i) => (p.grad as Float32Array).set(step[i]!));
    await opt.step();
  }
}

async function snapshot(params: Param[], opt: AdamOptimizer): Promise<string> {
  const sd = await opt.stateDictAsync();
  return JSON.stringify({
    data: params.map((p) => Array.from(p.data)),
    state: Object.entries(sd.state).map(([k, s]) => [k, Object.entries(s as unknown as Record<string, number | ArrayLike<number>>).map(([n, v]) => [n, typeof v === 'number' ? v : Array.from(v)])]),
    groups: sd.paramGroups,
  });
}

for (const backend of ['cpu', 'js', 'webgpu', 'onnx'] as BackendName[]) {
  describe(`resuming from a checkpoint is bit-identical to never stopping (${backend})`, () => {
    for (const preset of PRESETS) {
      it(preset.name, async (t) => {
        if (backend === 'webgpu' && !(await needsWebGpuAdapter(t))) return;
        const grads = gradients(6);
        const straight = makeParams(!!preset.bf16);
        // ONNX Runtime's CPU provider: its WebGPU one is covered by the parity table.
        const options: OptimizerOptions = { backend, lr: 2e-3, ...(backend === 'onnx' && { executionProviders: ['cpu'] }) };
        const straightOpt = preset.make(straight, options);
        await run(straightOpt, straight, grads);

        const first = makeParams(!!preset.bf16);
        const firstOpt = preset.make(first, options);
        await run(firstOpt, first, grads.slice(0, 3));
        const file = join(dir, `${preset.name.replace(/\W+/g, '-')}-${backend}.safetensors`);
        await firstOpt.save(file);
        // A new process would rebuild the model from its own checkpoint: copy the params.
        const resumed = first.map((p) => ({ ...p, data: p.data.slice(), grad: (p.grad as Float32Array).slice() }));
        const resumedOpt = preset.make(resumed, { ...options, lr: 0.5 }); // hyperparameters come from the file
        await resumedOpt.load(file);
        await run(resumedOpt, resumed, grads.slice(3));
        assert.equal(await snapshot(resumed, resumedOpt), await snapshot(straight, straightOpt));
        for (const o of [straightOpt, firstOpt, resumedOpt]) o.destroy();
      });
    }
  });
}

describe('checkpoint files', () => {
  const python = (() => {
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it('are safetensors that Python reads: PyTorch names, 8-bit codes, absmax and maps as tensors, metadata', { skip: !python && '/usr/bin/python3 with numpy is missing (.ci/run installs python3-numpy)' }, async () => {
    const params = makeParams(false);
    const opt = new AdamW8bit(params, { lr: 3e-3 });
    await run(opt, params, gradients(2));
    const file = join(dir, 'python.safetensors');
    await opt.save(file);
    const out = JSON.parse(execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'test/python/read_safetensors.py'), file], { encoding: 'utf8' })) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; sum: number }>;
    };
    assert.deepEqual(Object.keys(out.tensors).sort(), [
      'state.0.absmax1', 'state.0.absmax2', 'state.0.qmap1', 'state.0.qmap2', 'state.0.state1', 'state.0.state2', 'state.0.step',
      'state.1.exp_avg', 'state.1.exp_avg_sq', 'state.1.step',
      'state.2.absmax1', 'state.2.absmax2', 'state.2.qmap1', 'state.2.qmap2', 'state.2.state1', 'state.2.state2', 'state.2.step',
    ]);
    const sd = opt.stateDict();
    const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((x, y) => x + y, 0);
    assert.equal(out.tensors['state.0.step']!.sum, 2);
    assert.equal(out.tensors['state.0.state1']!.dtype, 'U8');
    assert.deepEqual(out.tensors['state.0.absmax1']!.shape, [Math.ceil(5000 / 256)]);
    assert.ok(Math.abs(out.tensors['state.1.exp_avg']!.sum - sum(sd.state[1]!.exp_avg!)) < 1e-9);
    assert.equal(out.tensors['state.0.state1']!.sum, sum(sd.state[0]!.state1!));
    assert.equal(out.metadata.optimizer, 'AdamW8bit');
    assert.equal((JSON.parse(out.metadata.param_groups!) as Array<{ lr: number }>)[0]!.lr, 3e-3);
    assert.match(out.metadata.checksum!, /^sha256:[0-9a-f]{64}$/);
    // bf16 buffers read back as the same float values.
    const bf = makeParams(true);
    const bfOpt = new AdamW(bf);
    await run(bfOpt, bf, gradients(1));
    await bfOpt.save(join(dir, 'bf16.safetensors'));
    const bfOut = JSON.parse(execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'test/python/read_safetensors.py'), join(dir, 'bf16.safetensors')], { encoding: 'utf8' })) as { tensors: Record<string, { dtype: string; sum: number }> };
    assert.equal(bfOut.tensors['state.0.exp_avg']!.dtype, 'BF16');
  });

  it('writes are atomic: a failed write leaves the old file and no temporary file', async () => {
    const file = join(dir, 'atomic.safetensors');
    writeFileSync(file, 'the previous checkpoint');
    const crashing = {
      open: async (...args: Parameters<typeof open>) => {
        const handle = await open(...args);
        return Object.assign(Object.create(handle) as typeof handle, {
          writeFile: async (bytes: Uint8Array) => {
            await handle.write(bytes, 0, bytes.length >> 1); // half written, then the machine "crashes"
            throw new Error('simulated crash');
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        });
      },
      rename, rm,
    };
    await assert.rejects(writeFileAtomic(file, new Uint8Array(1000).fill(7), { owner: "test", where: "save()" }, crashing), /simulated crash/);
    assert.equal(readFileSync(file, 'utf8'), 'the previous checkpoint');
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('atomic') && f.endsWith('.tmp')), []);
    const params = makeParams(false);
    const opt = new AdamW(params);
    await run(opt, params, gradients(1));
    await opt.save(file);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    assert.equal(readFileSync(file).subarray(8, 9).toString(), '{');
  });

  describe('a truncated or altered file throws a clear error and changes nothing', () => {
    async function setup() {
      const params = makeParams(false);
      const opt = new AdamW8bit(params);
      await run(opt, params, gradients(2));
      const file = join(dir, 'good.safetensors');
      await opt.save(file);
      const target = makeParams(false);
      const victim = new AdamW8bit(target);
      await run(victim, target, gradients(1));
      return { bytes: readFileSync(file), victim, before: await snapshot(target, victim), target };
    }
    const cases: Array<[string, (b: Buffer) => Buffer, RegExp]> = [
      ['empty', () => Buffer.alloc(0), /shorter than the 8-byte header length/],
      ['cut inside the header', (b) => b.subarray(0, 100), /header claims \d+ bytes but the file has \d+ after the length \(truncated\?\)/],
      ['cut inside the data', (b) => b.subarray(0, b.length - 10), /ends at byte \d+ of the data but the data has \d+ bytes \(truncated\?\)|cover \d+ bytes of data/],
      ['one byte of data flipped', (b) => { const c = Buffer.from(b); c[c.length - 5] = c[c.length - 5]! ^ 0x01; return c; }, /checksum does not match/],
      ['a hyperparameter altered in the header', (b) => Buffer.from(b.toString('latin1').replace('"lr\\":0.001', '"lr\\":0.002'), 'latin1'), /checksum does not match/],
      ['extra bytes appended', (b) => Buffer.concat([b, Buffer.from([0])]), /extra or missing bytes/],
      ['not JSON', (b) => { const c = Buffer.from(b); c[9] = 0x7b; c[10] = 0x7b; return c; }, /header is not valid UTF-8 JSON/],
    ];
    for (const [name, damage, message] of cases) {
      it(name, async () => {
        const { bytes, victim, before, target } = await setup();
        const file = join(dir, `damaged-${name.replace(/\W+/g, '-')}.safetensors`);
        writeFileSync(file, damage(bytes));
        await assert.rejects(victim.load(file), (e: Error) => {
          assert.match(e.message, /^AdamW8bit: load\(".*"\): /);
          assert.match(e.message, message);
          return true;
        });
        assert.equal(await snapshot(target, victim), before);
      });
    }
    it('a checkpoint of another variant is refused by name', async () => {
      const { bytes } = await setup();
      const file = join(dir, 'variant.safetensors');
      writeFileSync(file, bytes);
      const params = makeParams(false);
      const plain = new AdamW(params);
      await assert.rejects(plain.load(file), /AdamW: load\(".*"\): it was saved by AdamW8bit with variant \{"stateDtype":"8bit",.*but this optimizer's variant is \{"stateDtype":"fp32"/);
    });
    it('a checkpoint of another preset (Adam into AdamW) is refused, naming both; paging alone may differ', async () => {
      const params = makeParams(false);
      const adam = new Adam(params, { weightDecay: 0.01 });
      await run(adam, params, gradients(2));
      const file = join(dir, 'adam.safetensors');
      await adam.save(file);
      const target = makeParams(false);
      const adamw = new AdamW(target);
      await run(adamw, target, gradients(1));
      const before = await snapshot(target, adamw);
      await assert.rejects(adamw.load(file), /^Error: AdamW: load\(".*adam\.safetensors"\): it was saved by "Adam", but this optimizer is AdamW; load it into Adam \(its update rule differs/);
      assert.equal(await snapshot(target, adamw), before);
      // PagedAdamW's state is AdamW's, in a spill file: its checkpoint loads into AdamW, and back.
      const pagedParams = makeParams(false);
      const paged = new PagedAdamW(pagedParams, { paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } });
      await run(paged, pagedParams, gradients(2));
      await adamw.loadBytes(await paged.saveBytes());
      assert.equal(await snapshot(pagedParams, adamw), await snapshot(pagedParams, paged));
      for (const o of [adam, adamw, paged]) o.destroy();
    });
    it('a header over the limit is refused as too large (not as truncated) before it is parsed', async () => {
      const { victim, before, target } = await setup();
      const claim = new Uint8Array(16);
      new DataView(claim.buffer).setBigUint64(0, 99_000_000n, true);
      await assert.rejects(victim.loadBytes(claim), /^Error: AdamW8bit: loadBytes\(Uint8Array\(\d+\)\): not a valid safetensors file: its header of 99000000 bytes exceeds the limit of \d+ bytes; the file is damaged/);
      // A header within the byte limit that lists far more tensors than 3 params can have: counted, not parsed.
      const entries = Array.from({ length: 1000 }, (_, i) => `"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`).join(',');
      const json = new TextEncoder().encode(`{"__metadata__":{},${entries}}`);
      const many = new Uint8Array(8 + json.length);
      new DataView(many.buffer).setBigUint64(0, BigInt(json.length), true);
      many.set(json, 8);
      await assert.rejects(victim.loadBytes(many), /^Error: AdamW8bit: loadBytes\(Uint8Array\(\d+\)\): not a valid safetensors file: its header lists more than 24 tensors, the limit;/);
      assert.equal(await snapshot(target, victim), before);
    });
    it('a checkpoint for other params is refused by loadStateDict\'s checks, reported as load(path), changing nothing', async () => {
      const { bytes } = await setup();
      const file = join(dir, 'other-params.safetensors');
      writeFileSync(file, bytes);
      const params = [{ data: new Float32Array(5001), grad: new Float32Array(5001) }, ...makeParams(false).slice(1)];
      const opt = new AdamW8bit(params);
      await assert.rejects(opt.load(file), /^RangeError: AdamW8bit: load\(".*other-params\.safetensors"\): param 0: state1 is Uint8Array\(5000\); it must be a Uint8Array or array of length 5001/);
      assert.equal(opt.stateBytes(), 0);
    });
  });
});
