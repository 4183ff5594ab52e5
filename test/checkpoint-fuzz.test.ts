/**
 * Checkpoint fuzzing: seeded mutations of real checkpoints of every preset, loaded with load(path)
 * and loadBytes(). Raw damage (bit flips, truncations, extensions, overwritten bytes) must be refused.
 * Structural edits are re-signed with a valid checksum (signCheckpoint, the code encodeCheckpoint
 * signs with), so that the structural checks, not the checksum, must refuse them. Every refusal must
 * be an error naming the class and the call, and leave the optimizer bit-identical; only edits that
 * keep the meaning (key order, padding, an extra metadata key, the paged twin's name) are accepted,
 * and then they load exactly the original state.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PRESET_CATALOG, toBf16, type AdamOptimizer, type Param } from '../src/index.js';
import { signCheckpoint } from '../src/checkpoint/checkpoint.js';
import { seededNormal, seededRandom, scratchDirectory } from './helpers.js';

const MUTATIONS_PER_PRESET = 250;
const LENGTHS = [4400, 77]; // one tensor with 8-bit state (>= 4096 elements), one small enough to stay fp32
const dir = scratchDirectory('adamw-lab-fuzz-');

/** How a mutated file must be treated. */
type Expect = 'refuse' | 'accept-same' | 'either';
interface Mutation {
  kind: string;
  file: Uint8Array;
  expect: Expect;
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };

function parse(file: Uint8Array): { header: Header; data: Uint8Array } {
  const length = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + length))) as Header, data: file.subarray(8 + length) };
}

/**
 * A safetensors file from a header object as given (which may be inconsistent on purpose) and data;
 * `extraPadding` adds spaces after the JSON (still a multiple of 8).
 */
function assemble(header: object, data: Uint8Array, extraPadding = 0): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8 + extraPadding;
  json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const file = new Uint8Array(8 + json.length + data.length);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  file.set(data, 8 + json.length);
  return file;
}

/** Re-sign an edited file so that only the structural checks can refuse it. */
async function resigned(header: object, data: Uint8Array, extraPadding = 0): Promise<Uint8Array> {
  return signCheckpoint(assemble(header, data, extraPadding));
}

/** The header's tensors, in data order. */
function tensorNames(header: Header): string[] {
  return Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[a]!.data_offsets[0] - header[b]!.data_offsets[0]);
}

/** The data without tensor `name`'s bytes, and the header re-tiled to match. */
function withoutTensor(header: Header, data: Uint8Array, name: string): { header: Header; data: Uint8Array } {
  const [begin, end] = header[name]!.data_offsets;
  const out = structuredClone(header);
  delete out[name];
  for (const other of tensorNames(out)) {
    const offsets = out[other]!.data_offsets;
    if (offsets[0] >= end) out[other]!.data_offsets = [offsets[0] - (end - begin), offsets[1] - (end - begin)];
  }
  const kept = new Uint8Array(data.length - (end - begin));
  kept.set(data.subarray(0, begin));
  kept.set(data.subarray(end), begin);
  return { header: out, data: kept };
}

const OTHER_NAMES = ['Adam', 'AdamW', 'AdamW8bit', 'PagedAdamW', 'PagedAdamW8bit', 'StableAdamW', 'AdamW8bitKahan'];
const BAD_GROUPS: Array<(groups: Array<Record<string, unknown>>) => unknown> = [
  (g) => g.map((x) => ({ ...x, lr: -1 })),
  (g) => g.map((x) => ({ ...x, betas: [1.5, 0.999] })),
  (g) => g.map((x) => ({ ...x, eps: 'tiny' })),
  (g) => g.map((x) => ({ ...x, weight_decay: 0.1 })),
  (g) => g.map((x) => ({ ...x, params: [0] })),
  (g) => [...g, ...g],
  () => [],
  () => ({}),
];

/** One seeded mutation of `good`, a checkpoint of `owner`. */
async function mutate(good: Uint8Array, owner: string, random: () => number): Promise<Mutation> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const int = (n: number): number => Math.floor(random() * n);
  const { header, data } = parse(good);
  const names = tensorNames(header);
  const edit = (): Header => structuredClone(header);
  switch (int(16)) {
    case 0: {
      const file = good.slice();
      for (let k = 1 + int(4); k > 0; k--) {
        const at = int(file.length);
        file[at] = file[at]! ^ (1 << int(8));
      }
      return { kind: 'bit flips', file, expect: 'refuse' };
    }
    case 1:
      return { kind: 'truncated', file: good.slice(0, int(good.length)), expect: 'refuse' };
    case 2: {
      const tail = Uint8Array.from({ length: 1 + int(64) }, () => int(256));
      const file = new Uint8Array(good.length + tail.length);
      file.set(good);
      file.set(tail, good.length);
      return { kind: 'extended', file, expect: 'refuse' };
    }
    case 3: {
      const file = good.slice();
      const at = int(file.length - 16);
      for (let k = 0; k < 1 + int(16); k++) file[at + k] = (file[at + k]! + 1 + int(255)) & 0xff; // never the same byte
      return { kind: 'bytes overwritten', file, expect: 'refuse' };
    }
    case 4: {
      const h = edit();
      const name = pick(names);
      h[name]!.dtype = pick(['F32', 'BF16', 'U8', 'I64', 'F64', 'f32'].filter((d) => d !== h[name]!.dtype));
      return { kind: 'dtype changed (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 5: {
      // Same bytes, reinterpreted: another dtype with the shape that fills them.
      const h = edit();
      const name = pick(names);
      const bytes = h[name]!.data_offsets[1] - h[name]!.data_offsets[0];
      const [dtype, size] = pick([['F32', 4], ['BF16', 2], ['U8', 1], ['I64', 8]] as const);
      if (`${h[name]!.dtype}` === dtype || bytes % size !== 0) return { kind: 'dtype (no-op)', file: good.slice(), expect: 'accept-same' };
      h[name]!.dtype = dtype;
      h[name]!.shape = [bytes / size];
      return { kind: 'dtype and shape reinterpreted (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 6: {
      const h = edit();
      const name = pick(names);
      const n = h[name]!.shape.reduce((a, b) => a * b, 1);
      h[name]!.shape = pick([[n + 1], [Math.max(0, n - 1)], [1, n], [n, 1], [], [n, 0], [-n], [n + 0.5]].filter((d) => JSON.stringify(d) !== JSON.stringify(h[name]!.shape)));
      return { kind: 'shape changed (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 7: {
      const h = edit();
      const name = pick(names);
      const shift = pick([1, -1, 8, -8, 4096, 1e12]);
      const [begin, end] = h[name]!.data_offsets;
      h[name]!.data_offsets = pick<[number, number]>([[begin + shift, end + shift], [begin, end + shift]]);
      return { kind: 'data_offsets moved (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 8: {
      const h = edit();
      const name = pick(names);
      const [, index, buffer] = /^state\.(\d+)\.(\w+)$/.exec(name)!;
      const renamed = pick([`state.${index}.bogus`, `state.${Number(index) + 5}.${buffer}`, `state.${index}.__proto__`, `state.-1.${buffer}`, `state.${index}.${buffer}.x`, buffer!, `state.0${index}.${buffer}`]);
      h[renamed] = h[name]!;
      delete h[name];
      return { kind: 'tensor renamed (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 9: {
      // A tensor dropped with its bytes. Dropping a param's whole state is a valid checkpoint of a
      // param that never stepped; dropping one tensor of a param's state is not.
      const name = pick(names);
      const index = /^state\.(\d+)\./.exec(name)![1]!;
      if (random() < 0.2) {
        let cut = { header, data };
        for (const other of tensorNames(header).filter((n) => n.startsWith(`state.${index}.`))) cut = withoutTensor(cut.header, cut.data, other);
        return { kind: "a param's whole state dropped (re-signed)", file: await resigned(cut.header, cut.data), expect: 'either' };
      }
      const cut = withoutTensor(header, data, name);
      return { kind: 'one tensor dropped (re-signed)', file: await resigned(cut.header, cut.data), expect: 'refuse' };
    }
    case 10: {
      const h = edit();
      const other = pick(OTHER_NAMES.filter((n) => n.replace(/^Paged/, '') !== owner.replace(/^Paged/, '')));
      h.__metadata__.optimizer = other;
      return { kind: 'optimizer renamed to another preset (re-signed)', file: await resigned(h, data), expect: 'refuse' };
    }
    case 11: {
      const h = edit();
      const key = pick(['variant', 'format', 'format_version', 'param_groups', 'checksum']);
      if (key === 'param_groups') {
        const groups = JSON.parse(h.__metadata__.param_groups!) as Array<Record<string, unknown>>;
        h.__metadata__.param_groups = random() < 0.2 ? '[{"lr":' : JSON.stringify(pick(BAD_GROUPS)(groups));
      } else if (key === 'variant') {
        const variant = JSON.parse(h.__metadata__.variant!) as Record<string, unknown>;
        const field = pick(Object.keys(variant));
        variant[field] = pick([true, false, null, '8bit', 'fp32', 'bf16', 1].filter((v) => v !== variant[field]));
        h.__metadata__.variant = JSON.stringify(variant);
      } else if (key === 'checksum') {
        delete h.__metadata__.checksum;
        return { kind: 'checksum removed', file: assemble(h, data), expect: 'refuse' };
      } else {
        h.__metadata__[key] = pick(['', '2', '0', 'adamw-lab.model', 'safetensors']);
      }
      return { kind: `metadata ${key} changed (re-signed)`, file: await resigned(h, data), expect: 'refuse' };
    }
    case 12: {
      // A step value out of range, written into the data.
      const steps = names.filter((n) => n.endsWith('.step'));
      const name = pick(steps);
      const value = pick([-1n, -(2n ** 63n), 2n ** 53n, 2n ** 62n]);
      const bytes = data.slice();
      new DataView(bytes.buffer).setBigInt64(header[name]!.data_offsets[0], value, true);
      return { kind: `step = ${value} (re-signed)`, file: await resigned(edit(), bytes), expect: 'refuse' };
    }
    case 13: {
      // A quantization map altered (8-bit presets), or an unknown buffer added (all presets).
      const maps = names.filter((n) => /qmap\d$/.test(n));
      const h = edit();
      if (maps.length > 0 && random() < 0.7) {
        const name = pick(maps);
        const bytes = data.slice();
        const at = h[name]!.data_offsets[0] + 4 * (1 + int(254));
        new DataView(bytes.buffer).setFloat32(at, new DataView(bytes.buffer).getFloat32(at, true) * 1.5 + 0.01, true);
        return { kind: 'quantization map altered (re-signed)', file: await resigned(h, bytes), expect: 'refuse' };
      }
      const end = data.length;
      h['state.0.extra'] = { dtype: 'F32', shape: [2], data_offsets: [end, end + 8] };
      const bytes = new Uint8Array(end + 8);
      bytes.set(data);
      return { kind: 'unknown buffer added (re-signed)', file: await resigned(h, bytes), expect: 'refuse' };
    }
    case 14: {
      // Meaning kept: keys reordered, more padding, an extra metadata key, the paged twin's name.
      const h = edit();
      const choice = int(4);
      if (choice === 0) {
        const reversed = Object.fromEntries(Object.entries(h).reverse());
        return { kind: 'header keys reordered (re-signed)', file: await resigned(reversed, data), expect: 'accept-same' };
      }
      if (choice === 1) return { kind: 'more header padding (re-signed)', file: await resigned(h, data, 8 * (1 + int(4))), expect: 'accept-same' };
      if (choice === 2) {
        h.__metadata__.note = 'written by a test';
        return { kind: 'extra metadata key (re-signed)', file: await resigned(h, data), expect: 'accept-same' };
      }
      h.__metadata__.optimizer = owner.startsWith('Paged') ? owner.replace(/^Paged/, '') : `Paged${owner}`;
      const twinExists = OTHER_NAMES.includes(h.__metadata__.optimizer);
      return { kind: 'paged twin named (re-signed)', file: await resigned(h, data), expect: twinExists ? 'accept-same' : 'refuse' };
    }
    default: {
      // An unsigned edit of a header digit: the checksum must catch it.
      const text = new TextDecoder().decode(good);
      const digits = [...text.matchAll(/\d/g)].map((m) => m.index);
      const file = good.slice();
      const at = pick(digits.filter((i) => i > 8 && i < 8 + Number(new DataView(good.buffer).getBigUint64(0, true))));
      file[at] = 0x30 + ((file[at]! - 0x30 + 1 + int(9)) % 10);
      return { kind: 'header digit edited (unsigned)', file, expect: 'refuse' };
    }
  }
}

function makeParams(bf16: boolean, seed: number): Param[] {
  const normal = seededNormal(seed);
  return LENGTHS.map((n, i) => {
    const values = Float32Array.from({ length: n }, normal);
    const grad = Float32Array.from({ length: n }, normal);
    return bf16 ? { data: toBf16(values), dtype: 'bf16' as const, grad, name: `w${i}` } : { data: values, grad, name: `w${i}` };
  });
}

const SMALL_PAGES = { paged: { budgetBytes: 64 * 1024, pageBytes: 16 * 1024 } };

async function steppedOptimizer(label: string, steps: number, seed: number): Promise<AdamOptimizer> {
  const entry = PRESET_CATALOG.find((e) => e.label === label)!;
  const params = makeParams(entry.paramDtype === 'bf16', seed);
  const opt = entry.create(params, entry.className.startsWith('Paged') ? SMALL_PAGES : {});
  for (let t = 0; t < steps; t++) await opt.step();
  return opt;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('checkpoint fuzzing: seeded mutations of every preset\'s checkpoint', () => {
  const totals = { loads: 0, refused: 0, accepted: 0 };

  for (const [p, entry] of PRESET_CATALOG.entries()) {
    it(`${entry.label}: ${MUTATIONS_PER_PRESET} mutated loads; every refusal clear and changing nothing, no corruption accepted`, async () => {
      const owner = entry.className;
      const victim = await steppedOptimizer(entry.label, 2, 100 + p);
      const baseline = await victim.saveBytes();
      const source = await steppedOptimizer(entry.label, 3, 200 + p);
      const good = await source.saveBytes();
      // The unmutated file loads, and loads exactly its state.
      await victim.loadBytes(good);
      assert.ok(same(await victim.saveBytes(), good));
      await victim.loadBytes(baseline);
      const random = seededRandom(3000 + p);
      const kinds = new Map<string, number>();
      for (let k = 0; k < MUTATIONS_PER_PRESET; k++) {
        const mutation = await mutate(good, owner, random);
        const viaPath = k % 10 === 0;
        const where = viaPath ? /load\(".*fuzz-\d+\.safetensors"\)/ : /loadBytes\(Uint8Array\(\d+\)\)/;
        const context = `${entry.label}, mutation ${k} (${mutation.kind})`;
        let refusal: Error | undefined;
        try {
          if (viaPath) {
            const path = join(dir, `fuzz-${k}.safetensors`);
            writeFileSync(path, mutation.file);
            await victim.load(path);
          } else await victim.loadBytes(mutation.file);
        } catch (e) {
          refusal = e as Error;
        }
        totals.loads++;
        kinds.set(mutation.kind, (kinds.get(mutation.kind) ?? 0) + 1);
        if (refusal) {
          totals.refused++;
          assert.ok(refusal instanceof Error, `${context}: threw ${String(refusal)}`);
          assert.match(refusal.message, new RegExp(`^${owner}: ${where.source}: \\S`), `${context}: not a clear error: ${refusal.stack}`);
          assert.notEqual(mutation.expect, 'accept-same', `${context}: a mutation that keeps the meaning was refused: ${refusal.message}`);
          assert.ok(same(await victim.saveBytes(), baseline), `${context}: the refused load changed the optimizer`);
        } else {
          totals.accepted++;
          assert.notEqual(mutation.expect, 'refuse', `${context}: a corrupted checkpoint was accepted: ${new TextDecoder().decode(mutation.file.subarray(8, 8 + Number(new DataView(mutation.file.buffer).getBigUint64(0, true))))}`);
          if (mutation.expect === 'accept-same') assert.ok(same(await victim.saveBytes(), good), `${context}: accepted, but the state differs from the file's`);
          await victim.loadBytes(baseline);
        }
      }
      // Every kind of mutation was tried.
      assert.ok(kinds.size >= 16, `only ${kinds.size} kinds: ${[...kinds.keys()].join(', ')}`);
      victim.destroy();
      source.destroy();
    });
  }

  it('a checkpoint of each preset loads only into the same preset (or its paged twin) with the same param dtype', async () => {
    const optimizers = await Promise.all(PRESET_CATALOG.map((e, p) => steppedOptimizer(e.label, 2, 300 + p)));
    const files = await Promise.all(optimizers.map((o) => o.saveBytes()));
    for (const [v, into] of PRESET_CATALOG.entries()) {
      const before = await optimizers[v]!.saveBytes();
      for (const [s, from] of PRESET_CATALOG.entries()) {
        const twins = into.className.replace(/^Paged/, '') === from.className.replace(/^Paged/, '') && into.paramDtype === from.paramDtype;
        totals.loads++;
        if (twins) {
          totals.accepted++;
          await optimizers[v]!.loadBytes(files[s]!);
          await optimizers[v]!.loadBytes(before);
          continue;
        }
        totals.refused++;
        await assert.rejects(optimizers[v]!.loadBytes(files[s]!), new RegExp(`^\\w*Error: ${into.className}: loadBytes\\(Uint8Array\\(\\d+\\)\\): \\S`), `${from.label} into ${into.label}`);
        assert.ok(same(await optimizers[v]!.saveBytes(), before), `${from.label} into ${into.label} changed the optimizer`);
      }
    }
    for (const o of optimizers) o.destroy();
  });

  it('at least 2,000 mutated loads were made, most refused, the meaning-keeping ones accepted', (t) => {
    t.diagnostic(`${totals.loads} loads: ${totals.refused} refused, ${totals.accepted} accepted`);
    assert.ok(totals.loads >= 2000, `${totals.loads} loads`);
    assert.ok(totals.refused >= 1500 && totals.accepted >= 50, `${totals.refused} refused, ${totals.accepted} accepted`);
  });
});
