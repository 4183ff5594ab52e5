/**
 * Optimizer checkpoints as safetensors files, readable from Python. Tensor names follow PyTorch's
 * state_dict (`state.<i>.exp_avg`, `state.<i>.exp_avg_sq`, …; bitsandbytes' `state1`, `absmax1`,
 * `qmap1`, … for 8-bit state); the step is an int64 scalar `state.<i>.step`. The metadata holds the
 * optimizer, its variant options, the param groups' hyperparameters and a SHA-256 checksum of the
 * whole file (computed with the checksum field zeroed), so any truncation or alteration is detected
 * before anything is loaded.
 * @module
 */
import { quantizationMaps } from '../core/quantization-maps.js';
import { DTYPES, dtypeNamed, dtypeOfArray } from '../core/dtypes.js';
import type { StateBuffer, VariantOptions } from '../core/variants.js';
import type { AnyParam, ParamGroupStateDict, ParamStateDict, StateDict } from '../types.js';
import { GROUP_KEYS, paramLength } from '../core/params.js';
import { fail, refuseUnknownKeys, showValue } from '../util/errors.js';
import { VERSION } from '../version.js';
import { readFileBytes, writeFileAtomic } from './file-io.js';
import {
  decodeSafetensors, encodeSafetensors, SafetensorsFormatError, type SafetensorsDtype, type SafetensorsLimits, type SafetensorsTensor,
} from './safetensors.js';

/** The `format` metadata value of adamw-lab optimizer checkpoints. */
export const CHECKPOINT_FORMAT = 'adamw-lab.optimizer';
/** Bumped when the layout changes incompatibly; files of other versions are refused with a clear error. */
export const CHECKPOINT_FORMAT_VERSION = '1';

const CHECKSUM_PREFIX = 'sha256:';
/** Presets that differ only in paging; their checkpoints load into each other. */
const PAGED_TWINS: Record<string, string> = { PagedAdamW: 'AdamW', PagedAdamW8bit: 'AdamW8bit' };
const ZERO_DIGEST = '0'.repeat(64);

/** The variant options that change what the state holds (paging does not). */
function stateVariant(v: Readonly<VariantOptions>): { stateDtype: string; kahan: boolean | null; stable: boolean } {
  return { stateDtype: v.stateDtype ?? 'fp32', kahan: v.kahan ?? null, stable: v.stable ?? false };
}

function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
}

/** A state buffer's safetensors dtype, from the one dtype table. */
function safetensorsDtypeOf(array: StateBuffer): SafetensorsDtype {
  return DTYPES[dtypeOfArray(array)].safetensors;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // Checkpoint bytes are always a plain ArrayBuffer (encoded here, or read from a file).
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Where the checksum's hex digits sit in the file (they are hashed as zeros). */
function checksumRange(file: Uint8Array, headerEnd: number): [number, number] {
  const header = new TextDecoder().decode(file.subarray(8, headerEnd));
  const key = `"checksum":"${CHECKSUM_PREFIX}`;
  const at = header.indexOf(key);
  if (at < 0) return [-1, -1];
  const start = 8 + new TextEncoder().encode(header.slice(0, at + key.length)).length;
  return [start, start + 64];
}

/** Most tensors one param's state has in a checkpoint: step, 4 buffers or 8-bit codes, absmax, shift, 2 maps. */
const MAX_TENSORS_PER_PARAM = 8;
/** Header bytes per tensor, with room to spare (`"state.123456.exp_avg_sq":{"dtype":"F32","shape":[…],"data_offsets":[…,…]}` is ~100). */
const MAX_HEADER_BYTES_PER_TENSOR = 256;
/** Header bytes for the metadata beyond the tensors: format, variant, param groups' hyperparameters. */
const HEADER_BYTES_BASE = 64 * 1024;
/** Most state bytes per element (fp32 m, v and v_max), rounded up, and per param (2 maps, step, absmax slack). */
const MAX_STATE_BYTES_PER_ELEMENT = 16;
const MAX_STATE_BYTES_PER_PARAM = 4096;

/**
 * What the codec needs to know of the optimizer a checkpoint is read into, as data (the codec never
 * sees the optimizer class, so checkpoint/ depends only on the layers below the optimizers).
 */
export interface CheckpointTarget {
  /** The param groups; only their params' lengths are read (for the size limits). */
  readonly paramGroups: ReadonlyArray<{ readonly params: readonly AnyParam[] }>;
  /** The variant's description, stored as the `variant` metadata and compared on load. */
  readonly variantOptions: VariantOptions;
}

/**
 * The most a checkpoint of `optimizer` can hold: its header size and tensor count, and the whole
 * file's size. A file over these is refused before it is read or parsed, so that a hostile header
 * (a million tensors, 100 MB of JSON) costs nothing.
 */
export function checkpointLimits(optimizer: CheckpointTarget): SafetensorsLimits & { maxFileBytes: number } {
  let params = 0;
  let elements = 0;
  for (const group of optimizer.paramGroups) {
    for (const param of group.params) {
      params++;
      elements += paramLength(param);
    }
  }
  // Param-group metadata lists every param's index (≤ 12 bytes each).
  const maxHeaderBytes = HEADER_BYTES_BASE + params * (MAX_TENSORS_PER_PARAM * MAX_HEADER_BYTES_PER_TENSOR + 12);
  const maxFileBytes = 8 + maxHeaderBytes + elements * MAX_STATE_BYTES_PER_ELEMENT + params * MAX_STATE_BYTES_PER_PARAM;
  return { maxHeaderBytes, maxTensors: params * MAX_TENSORS_PER_PARAM, maxFileBytes };
}

/** Write checkpoint `bytes` to `path` atomically; errors name `owner`, `save(path)` and the path's role. */
export async function writeCheckpoint(owner: string, path: string, bytes: Uint8Array): Promise<void> {
  checkCheckpointPath(owner, 'save', path);
  await writeFileAtomic(path, bytes, { owner, where: `save(${JSON.stringify(path)})` });
}

/**
 * The state dict in the checkpoint file at `path`, for `optimizer`: a regular file within
 * {@link checkpointLimits}, checked by {@link decodeCheckpoint}. Nothing is changed here.
 */
export async function readCheckpoint(optimizer: CheckpointTarget, owner: string, path: string): Promise<StateDict> {
  checkCheckpointPath(owner, 'load', path);
  const where = `load(${JSON.stringify(path)})`;
  const bytes = await readFileBytes(path, { owner, where }, checkpointLimits(optimizer).maxFileBytes);
  return decodeCheckpoint(bytes, optimizer, owner, where);
}

/** The state dict in checkpoint `bytes`, for `optimizer`, checked as {@link readCheckpoint} checks a file. */
export function decodeCheckpointBytes(optimizer: CheckpointTarget, owner: string, bytes: Uint8Array): Promise<StateDict> {
  if (!(bytes instanceof Uint8Array)) fail(TypeError, owner, 'loadBytes()', `bytes = ${showValue(bytes)} is invalid`, 'pass the Uint8Array that saveBytes() returned');
  return decodeCheckpoint(bytes, optimizer, owner, `loadBytes(${showValue(bytes)})`);
}

/** Refuse a path that is not a non-empty string, before any work. */
export function checkCheckpointPath(owner: string, method: 'save' | 'load', path: unknown): void {
  if (typeof path !== 'string' || path === '') fail(TypeError, owner, `${method}()`, `path = ${showValue(path)} is invalid`, 'pass a file path (a non-empty string)');
}

/** The checkpoint bytes of state dict `sd`, saved by optimizer `optimizerName` with variant `variantOptions`. */
export async function encodeCheckpoint(sd: StateDict, variantOptions: VariantOptions, optimizerName: string): Promise<Uint8Array> {
  const { signed, unsigned } = quantizationMaps();
  const tensors: Array<[string, SafetensorsTensor]> = [];
  for (const [index, entry] of Object.entries(sd.state)) {
    const { step, ...buffers } = entry;
    tensors.push([`state.${index}.step`, { dtype: 'I64', shape: [], bytes: bytesOf(BigInt64Array.of(BigInt(step))) }]);
    for (const [name, array] of Object.entries(buffers) as Array<[string, StateBuffer]>) {
      tensors.push([`state.${index}.${name}`, { dtype: safetensorsDtypeOf(array), shape: [array.length], bytes: bytesOf(array) }]);
    }
    if (buffers.state1) {
      tensors.push([`state.${index}.qmap1`, { dtype: DTYPES.fp32.safetensors, shape: [256], bytes: bytesOf(signed) }]);
      tensors.push([`state.${index}.qmap2`, { dtype: DTYPES.fp32.safetensors, shape: [256], bytes: bytesOf(unsigned) }]);
    }
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_FORMAT_VERSION,
    library: `adamw-lab ${VERSION}`,
    optimizer: optimizerName,
    variant: JSON.stringify(stateVariant(variantOptions)),
    param_groups: JSON.stringify(sd.paramGroups),
    checksum: CHECKSUM_PREFIX + ZERO_DIGEST,
  };
  return signCheckpoint(encodeSafetensors(tensors, metadata));
}

/**
 * Write the SHA-256 of `file` (hashed with the checksum's 64 hex digits as zeros) into its checksum
 * field, in place, and return it. Tests use it to re-sign a file they edited, so that what refuses
 * the edit is the structural checks, not the checksum.
 */
export async function signCheckpoint(file: Uint8Array): Promise<Uint8Array> {
  const [start, end] = checksumRange(file, 8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true)));
  if (start < 0 || end - start !== 64) throw new Error('adamw-lab: internal error: no checksum field to sign');
  file.set(new TextEncoder().encode(ZERO_DIGEST), start);
  file.set(new TextEncoder().encode(await sha256Hex(file)), start);
  return file;
}

/**
 * Parse and verify checkpoint bytes into a state dict for `optimizer`, or throw a clear error. Nothing
 * is changed here; the caller loads the result with loadStateDict, which checks it against the params.
 */
export async function decodeCheckpoint(file: Uint8Array, optimizer: CheckpointTarget, owner: string, where: string): Promise<StateDict> {
  const fail = (problem: string, allowed: string): never => {
    throw new Error(`${owner}: ${where}: ${problem}; ${allowed}`);
  };
  let decoded;
  try {
    decoded = decodeSafetensors(file, checkpointLimits(optimizer));
  } catch (e) {
    if (e instanceof SafetensorsFormatError) return fail(e.message, 'the file is damaged or is not an adamw-lab checkpoint');
    throw e;
  }
  const { metadata, tensors, headerEnd } = decoded;
  if (metadata.format !== CHECKPOINT_FORMAT) fail(`metadata format is ${JSON.stringify(metadata.format)}`, `expected "${CHECKPOINT_FORMAT}" (an adamw-lab optimizer checkpoint)`);
  if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) fail(`format_version is ${JSON.stringify(metadata.format_version)}`, `this build reads version ${CHECKPOINT_FORMAT_VERSION}`);
  const stored = metadata.checksum ?? '';
  if (!stored.startsWith(CHECKSUM_PREFIX) || stored.length !== CHECKSUM_PREFIX.length + 64) fail('the checksum is missing', 'the file is damaged');
  const [start, end] = checksumRange(file, headerEnd);
  if (start < 0) fail('the checksum is missing', 'the file is damaged');
  const zeroed = file.slice();
  zeroed.set(new TextEncoder().encode(ZERO_DIGEST), start);
  const actual = await sha256Hex(zeroed);
  if (actual !== new TextDecoder().decode(file.subarray(start, end))) {
    fail(`the SHA-256 checksum does not match (stored ${stored.slice(CHECKSUM_PREFIX.length, CHECKSUM_PREFIX.length + 12)}…, computed ${actual.slice(0, 12)}…)`, 'the file was altered or damaged after it was written');
  }
  const ours = JSON.stringify(stateVariant(optimizer.variantOptions));
  if (metadata.variant !== ours) fail(`it was saved by ${metadata.optimizer} with variant ${metadata.variant}, but this optimizer's variant is ${ours}`, 'load it into an optimizer with the same variant options');
  // Paging changes where the state lives, not what it is: PagedAdamW's checkpoint loads into AdamW.
  const unpaged = (name: string | undefined): string | undefined => (name !== undefined && Object.hasOwn(PAGED_TWINS, name) ? PAGED_TWINS[name] : name);
  if (unpaged(metadata.optimizer) !== unpaged(owner)) {
    fail(`it was saved by ${JSON.stringify(metadata.optimizer)}, but this optimizer is ${owner}`,
      `load it into ${metadata.optimizer} (its update rule differs: Adam adds the decay to the gradient, the AdamW presets decouple it); only paging may differ`);
  }
  let paramGroups: ParamGroupStateDict[];
  try {
    paramGroups = JSON.parse(metadata.param_groups ?? '') as ParamGroupStateDict[];
  } catch {
    return fail('param_groups metadata is not JSON', 'the file is damaged');
  }
  if (!Array.isArray(paramGroups) || !paramGroups.every((g) => typeof g === 'object' && g !== null && !Array.isArray(g))) {
    fail(`param_groups metadata is ${showValue(paramGroups)}`, 'it must be a list of param groups { params, lr, betas, … }');
  }
  // A key loadStateDict would ignore (PyTorch's weight_decay, say) is refused, not dropped.
  paramGroups.forEach((group, g) => refuseUnknownKeys(owner, `${where}: param group ${g}`, group, ['params', ...GROUP_KEYS]));
  const { signed, unsigned } = quantizationMaps();
  const state: Record<number, ParamStateDict> = {};
  const maps = new Set<string>();
  for (const [name, tensor] of tensors) {
    const match = /^state\.(0|[1-9]\d{0,8})\.([a-z_0-9]+)$/.exec(name);
    // Object.prototype's names (__proto__, constructor…) would not become buffers: refuse them as unknown.
    if (!match || match[2]! in Object.prototype) fail(`unexpected tensor '${name}'`, 'tensors are named state.<param index>.<buffer>');
    const index = Number(match![1]);
    const key = match![2]!;
    const entry = (state[index] ??= { step: -1 }) as unknown as Record<string, unknown>;
    const { bytes } = tensor;
    const shape = `[${tensor.shape.join(', ')}]`;
    if (key === 'step') {
      if (tensor.dtype !== 'I64' || tensor.shape.length !== 0) fail(`'${name}' is ${tensor.dtype} of shape ${shape}`, 'step is an int64 scalar (shape [])');
      const step = new BigInt64Array(bytes.buffer, bytes.byteOffset, 1)[0]!;
      if (step < 0n || step > BigInt(Number.MAX_SAFE_INTEGER)) fail(`'${name}' is ${step}`, `step must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
      entry.step = Number(step);
    } else if (key === 'qmap1' || key === 'qmap2') {
      if (tensor.dtype !== DTYPES.fp32.safetensors || shape !== '[256]') fail(`'${name}' is ${tensor.dtype} of shape ${shape}`, 'a quantization map is F32 of shape [256]');
      maps.add(name);
      const map = new Float32Array(bytes.buffer, bytes.byteOffset, 256);
      const expected = key === 'qmap1' ? signed : unsigned;
      const ulps = new Int32Array(Float32Array.from(map).buffer).map((b, i) => Math.abs(b - new Int32Array(expected.buffer)[i]!));
      if (map.length !== 256 || ulps.some((u) => u > 2)) fail(`'${name}' is not bitsandbytes' dynamic map`, 'the 8-bit codes can only be read with the map they were written with');
    } else {
      if (tensor.shape.length !== 1) fail(`'${name}' has shape ${shape}`, 'state buffers are flat (one dimension)');
      const dtype = dtypeNamed('safetensors', tensor.dtype) ?? fail(`'${name}' has dtype ${tensor.dtype}`, 'state buffers are F32, BF16 or U8');
      entry[key] = new DTYPES[dtype].array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / DTYPES[dtype].bytes);
    }
  }
  for (const [index, entry] of Object.entries(state)) {
    if (entry.step < 0) fail(`param ${index} has buffers but no step`, 'the file is damaged');
    if (entry.state1 && !(maps.has(`state.${index}.qmap1`) && maps.has(`state.${index}.qmap2`))) {
      fail(`param ${index} has 8-bit codes but not both quantization maps (qmap1, qmap2)`, 'the 8-bit codes can only be read with the maps they were written with');
    }
  }
  return { state, paramGroups };
}
