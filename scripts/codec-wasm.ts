/**
 * The arithmetic codec of the 8-bit dynamic maps (kernels/wasm/dynamic-map-codec.ts), compiled alone
 * to build/wasm/codec-check.wasm by `npm run build:wasm`, and what the check and the test compare it with.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Exports of kernels/wasm/codec-check.ts. Addresses are byte offsets; n is a multiple of 4. */
export interface CodecExports {
  decodeCodes(codes: number, out: number, n: number, signed: number): void;
  encodeBitRange(first: number, out: number, n: number, signed: number): void;
  encodeValues(x: number, out: number, n: number, signed: number): void;
}

export const CODEC_WASM = join(__dirname, '..', 'build', 'wasm', 'codec-check.wasm');

/** The compiled codec module (throws, saying how to build it, when absent). */
export function codecModule(): WebAssembly.Module {
  if (!existsSync(CODEC_WASM)) throw new Error(`check-codec: ${CODEC_WASM} is missing: run npm run build:wasm`);
  return new WebAssembly.Module(readFileSync(CODEC_WASM));
}

/** An instance of the codec with its own memory of at least `bytes` bytes (from byte 65536 on). */
export function codecInstance(module: WebAssembly.Module, bytes: number): { codec: CodecExports; memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: 1 + Math.ceil(bytes / 65536), maximum: 65536, shared: true });
  return { codec: new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as CodecExports, memory };
}

/** First and last float32 bit patterns of [0, 1] and of [−1, −0]: every float32 in [−1, 1]. */
export const UNIT_RANGES: ReadonlyArray<readonly [number, number]> = [[0x00000000, 0x3f800000], [0x80000000, 0xbf800000]];
