/**
 * bitsandbytes' two dynamic maps (signed for m, unsigned for v), built once per process from the rules'
 * `dynamicMap`. The rules runner, every backend's quantization tables, the ONNX graph generator and
 * the checkpoint codec (which stores them as `qmap1`, `qmap2`) read them here.
 * @module
 */
import { dynamicMap } from '../rules/blockwise8bit.js';

let maps: { signed: Float32Array; unsigned: Float32Array } | undefined;
/** bitsandbytes' dynamic maps, built once. */
export function quantizationMaps(): { signed: Float32Array; unsigned: Float32Array } {
  maps ??= { signed: dynamicMap(true), unsigned: dynamicMap(false) };
  return maps;
}
