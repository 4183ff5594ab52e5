/**
 * The safetensors format (huggingface/safetensors), so checkpoints open in Python with
 * `safetensors.torch.load_file` or `safe_open`: an 8-byte little-endian header length N, N bytes of
 * JSON header `{ "__metadata__": {str: str}, name: { dtype, shape, data_offsets: [begin, end] } }`
 * padded with spaces to a multiple of 8, then the tensors' bytes, contiguous, in header order.
 * @module
 */

/** safetensors dtypes this library writes. */
export type SafetensorsDtype = 'F32' | 'BF16' | 'U8' | 'I64';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, BF16: 2, U8: 1, I64: 8 };

/** One tensor: dtype, shape, and its raw little-endian bytes. */
export interface SafetensorsTensor {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Raw little-endian bytes. */
  bytes: Uint8Array;
}

/** Headers larger than this are refused (safetensors' own limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Bounds checked before the header is parsed, so that a hostile header costs nothing. */
export interface SafetensorsLimits {
  /** Most header bytes accepted (default 100 MB, safetensors' own limit). */
  maxHeaderBytes?: number;
  /** Most tensors accepted (default: no limit). */
  maxTensors?: number;
}

/** Thrown for any file that is not a well-formed safetensors file; the message says what is wrong. */
export class SafetensorsFormatError extends Error {
  /** Always `'SafetensorsFormatError'`. */
  override name = 'SafetensorsFormatError';
}

function littleEndian(): boolean {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
}

/** Serialize tensors (in the order given) and string metadata. */
export function encodeSafetensors(tensors: ReadonlyArray<[string, SafetensorsTensor]>, metadata: Record<string, string>): Uint8Array {
  if (!littleEndian()) throw new Error('adamw-lab: safetensors are little-endian; this platform is big-endian');
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  json += ' '.repeat(padded - headerBytes.length);
  headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

/** Parsed file: tensors in header order, metadata, and where the header JSON sits in the file. */
export interface DecodedSafetensors {
  /** Name and tensor, in header order. */
  tensors: Array<[string, SafetensorsTensor]>;
  /** The header's `__metadata__` strings. */
  metadata: Record<string, string>;
  /** Byte offset where the header JSON begins (8). */
  headerStart: number;
  /** Byte offset just past the header JSON (and its padding). */
  headerEnd: number;
}

/**
 * Parse and check a safetensors file: header length within the file, valid JSON, known dtypes, shapes
 * that match the byte ranges, and ranges that tile the data section exactly (as safetensors requires).
 */
export function decodeSafetensors(file: Uint8Array, limits: SafetensorsLimits = {}): DecodedSafetensors {
  const bad = (what: string): never => {
    throw new SafetensorsFormatError(`not a valid safetensors file: ${what}`);
  };
  const maxHeaderBytes = Math.min(limits.maxHeaderBytes ?? MAX_HEADER_BYTES, MAX_HEADER_BYTES);
  if (file.byteLength < 8) bad(`it is ${file.byteLength} bytes long, shorter than the 8-byte header length`);
  const headerLength64 = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (headerLength64 > BigInt(maxHeaderBytes)) bad(`its header of ${headerLength64} bytes exceeds the limit of ${maxHeaderBytes} bytes`);
  const headerLength = Number(headerLength64);
  if (8 + headerLength > file.byteLength) {
    bad(`the header claims ${headerLength} bytes but the file has ${file.byteLength - 8} after the length (truncated?)`);
  }
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength));
  } catch (e) {
    bad(`its header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (limits.maxTensors !== undefined) {
    // Every tensor entry has a "data_offsets" key: count them before paying for JSON.parse.
    let count = 0;
    for (let at = text.indexOf('"data_offsets"'); at >= 0 && count <= limits.maxTensors; at = text.indexOf('"data_offsets"', at + 1)) count++;
    if (count > limits.maxTensors) bad(`its header lists more than ${limits.maxTensors} tensors, the limit`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    bad(`its header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('its header is not a JSON object');
  const entries = Object.entries(header as Record<string, unknown>);
  const metadataValue = (header as Record<string, unknown>).__metadata__ ?? {};
  if (typeof metadataValue !== 'object' || metadataValue === null || Object.values(metadataValue).some((v) => typeof v !== 'string')) {
    bad('__metadata__ must map strings to strings');
  }
  const dataStart = 8 + headerLength;
  const dataLength = file.byteLength - dataStart;
  const tensors: Array<[string, SafetensorsTensor]> = [];
  for (const [name, value] of entries) {
    if (name === '__metadata__') continue;
    const t = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== 'object' || t === null) bad(`tensor '${name}' is not an object`);
    if (typeof t.dtype !== 'string' || !(t.dtype in SAFETENSORS_DTYPE_BYTES)) bad(`tensor '${name}' has dtype ${JSON.stringify(t.dtype)}; expected one of F32, BF16, U8, I64`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`tensor '${name}' has shape ${JSON.stringify(t.shape)}`);
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) bad(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    const dtype = t.dtype as SafetensorsDtype;
    const shape = t.shape as number[];
    const elements = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end - begin !== elements * SAFETENSORS_DTYPE_BYTES[dtype]) bad(`tensor '${name}': ${end - begin} bytes do not hold shape [${shape.join(', ')}] of ${dtype}`);
    if (end > dataLength) bad(`tensor '${name}' ends at byte ${end} of the data but the data has ${dataLength} bytes (truncated?)`);
    tensors.push([name, { dtype, shape, bytes: file.slice(dataStart + begin, dataStart + end) }]);
  }
  // The byte ranges must tile the data section: sorted, contiguous, no gaps, no overlaps, nothing after.
  const ranges = entries.filter(([n]) => n !== '__metadata__').map(([n, v]) => [n, (v as { data_offsets: [number, number] }).data_offsets] as const).sort((a, b) => a[1][0] - b[1][0]);
  let expected = 0;
  for (const [name, [begin, end]] of ranges) {
    if (begin !== expected) bad(`tensor '${name}' starts at byte ${begin}, expected ${expected} (gap or overlap)`);
    expected = end;
  }
  if (expected !== dataLength) bad(`the tensors cover ${expected} bytes of data but the file has ${dataLength} (extra or missing bytes)`);
  return { tensors, metadata: metadataValue as Record<string, string>, headerStart: 8, headerEnd: dataStart };
}
