/**
 * The arithmetic codec of the 8-bit dynamic maps (kernels/wasm/dynamic-map-codec.ts, run as
 * WebAssembly from build/wasm/codec-check.wasm) against the readable rules (src/rules/blockwise8bit.ts:
 * dynamicMap, whose values are within 2 ulps of PyTorch's, test/blockwise8bit-rules.test.ts, and
 * bitsandbytes' dQuantize as a binary search) and the step kernel's tables, which must agree bit for bit. `npm run check:codec` runs the encode comparison over every float32
 * in [−1, 1]; this test takes a strided sample and the points where a code changes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dynamicMap, quantize, quantizeSigned } from '../src/rules/blockwise8bit.js';
import { lookupCode, quantizationTables } from '../src/backends/quantization-tables.js';
import { codecInstance, codecModule, UNIT_RANGES } from '../scripts/codec-wasm.js';
/** Odd, and prime, so the sample lands on every residue of a float's low bits. */
const STRIDE = 2039;
const BASE = 65536;
const module = codecModule();

/** The codec's codes of the float32s `xs`, in one map. */
function encode(xs: Float32Array, signed: boolean): Uint8Array {
  const n = (xs.length + 3) & ~3;
  const { codec, memory } = codecInstance(module, n * 5);
  new Float32Array(memory.buffer, BASE, n).set(xs);
  codec.encodeValues(BASE, BASE + n * 4, n, signed ? 1 : 0);
  return new Uint8Array(memory.buffer, BASE + n * 4, xs.length).slice();
}

const bitsOf = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const fromBits = (bits: number): number => new Float32Array(Uint32Array.of(bits >>> 0).buffer)[0]!;
/** The float32 `steps` representable values away from x (toward +∞ for steps > 0). */
const stepped = (x: number, steps: number): number => {
  if (x === 0) return steps === 0 ? x : Math.sign(steps) * fromBits(Math.abs(steps));
  return fromBits(bitsOf(x) + (x > 0 ? steps : -steps));
};

for (const signed of [true, false]) {
  const name = signed ? 'signed map (m)' : 'unsigned map (v)';
  const map = dynamicMap(signed);
  const table = signed ? quantizationTables().signed : quantizationTables().unsigned;
  describe(`arithmetic codec, ${name}`, () => {
    it('decodes all 256 codes to the map\'s values, bit for bit', () => {
      const { codec, memory } = codecInstance(module, 2048);
      new Uint8Array(memory.buffer, BASE, 256).set(Array.from({ length: 256 }, (_, c) => c));
      codec.decodeCodes(BASE, BASE + 256, 256, signed ? 1 : 0);
      const values = new Float32Array(memory.buffer, BASE + 256, 256);
      for (let c = 0; c < 256; c++) assert.ok(Object.is(values[c], map[c]), `code ${c}: ${values[c]} != ${map[c]}`);
    });

    it('encodes each code\'s value, each midpoint between neighbours and the floats beside them as dQuantize does (ties included)', () => {
      const points: number[] = [0, -0, 1, -1];
      for (let c = 0; c < 256; c++) {
        const value = map[c]!;
        const midpoint = c < 255 ? Math.fround((value + map[c + 1]!) * 0.5) : value;
        for (const x of [value, midpoint]) for (let s = -2; s <= 2; s++) points.push(stepped(x, s));
      }
      const xs = Float32Array.from(points.filter((x) => Math.abs(x) <= 1));
      const codes = encode(xs, signed);
      xs.forEach((x, i) => {
        const want = signed ? quantizeSigned(map, x) : quantize(map, x);
        assert.equal(codes[i], want, `x = ${x} (0x${bitsOf(x).toString(16)})`);
      });
    });

    it(`encodes every ${STRIDE}th float32 in [−1, 1] as the step kernel's table does`, () => {
      const bits: number[] = [];
      for (const [first, last] of UNIT_RANGES) for (let b = first; b <= last; b += STRIDE) bits.push(b);
      const xs = new Float32Array(Uint32Array.from(bits).buffer);
      const codes = encode(xs, signed);
      let mismatches = 0;
      const examples: string[] = [];
      bits.forEach((b, i) => {
        const want = lookupCode(table, b);
        if (codes[i] !== want && mismatches++ < 5) examples.push(`x = ${xs[i]}: codec ${codes[i]}, table ${want}`);
      });
      assert.equal(mismatches, 0, `${mismatches} of ${bits.length} differ: ${examples.join('; ')}`);
      assert.ok(bits.length > 1_000_000);
    });
  });
}
