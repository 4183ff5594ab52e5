/**
 * The library's one dtype vocabulary, and the one table that translates it to each format's own names.
 *
 * Inside the library a buffer's dtype is the public API's name: `'fp32'` or `'bf16'` (a param's
 * `dtype`, `gradDtype`), plus `'u8'` for bitsandbytes' 8-bit codes. The formats keep theirs:
 * safetensors writes `F32`/`BF16`/`U8`, ONNX `float`/`bfloat16`/`uint8`, and onnxruntime's tensors
 * `float32`/`uint8`. Code that reads or writes a format looks its name up here, nowhere else.
 * @module
 */

/** A state or param buffer's element type. */
export type Dtype = 'fp32' | 'bf16' | 'u8';

/** The element types a param, a grad or a moment may have. */
export type FloatDtype = 'fp32' | 'bf16';

/** The element types of the ONNX graphs' tensors (bf16 buffers travel as fp32 holding bf16 values). */
export type OnnxTensorDtype = 'fp32' | 'u8';

/** What a buffer of this dtype is called by each format, and its size. */
export interface DtypeFormats {
  /** Bytes per element. */
  readonly bytes: number;
  /** The typed array that holds it (bf16 as its 16-bit patterns). */
  readonly array: Float32ArrayConstructor | Uint16ArrayConstructor | Uint8ArrayConstructor;
  /** Its name in a safetensors header. */
  readonly safetensors: 'F32' | 'BF16' | 'U8';
  /** Its ONNX element type's name (TensorProto.DataType). */
  readonly onnx: 'float' | 'bfloat16' | 'uint8';
  /** Its type as an onnxruntime `Tensor`, where the graphs take it as an input or output. */
  readonly onnxRuntime: 'float32' | 'uint8' | undefined;
}

/** Every dtype and its names in the formats. */
export const DTYPES: Readonly<Record<Dtype, DtypeFormats>> = {
  fp32: { bytes: 4, array: Float32Array, safetensors: 'F32', onnx: 'float', onnxRuntime: 'float32' },
  // The graphs take bf16 buffers as fp32 and round inside, so no bf16 tensor crosses into onnxruntime.
  bf16: { bytes: 2, array: Uint16Array, safetensors: 'BF16', onnx: 'bfloat16', onnxRuntime: undefined },
  u8: { bytes: 1, array: Uint8Array, safetensors: 'U8', onnx: 'uint8', onnxRuntime: 'uint8' },
};

/** The dtype a format calls `name` (a safetensors header's `F32`, an ONNX `float`), or undefined for one no buffer has. */
export function dtypeNamed(format: 'safetensors' | 'onnx', name: string): Dtype | undefined {
  return (Object.keys(DTYPES) as Dtype[]).find((dtype) => DTYPES[dtype][format] === name);
}

/** The dtype a typed array holds: Float32Array fp32, Uint16Array bf16 (its bit patterns), Uint8Array u8. */
export function dtypeOfArray(array: Float32Array | Uint16Array | Uint8Array): Dtype {
  return array instanceof Float32Array ? 'fp32' : array instanceof Uint16Array ? 'bf16' : 'u8';
}
