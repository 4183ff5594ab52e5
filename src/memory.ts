/**
 * Params in adamw-lab's memory. A param made here has its data and grad in the same shared
 * WebAssembly memory as its optimizer state, so the CPU backend updates it in place, with no copies,
 * and splits large steps across worker threads. Any Float32Array works as a param; these are faster.
 * @module
 */
import { allocateInArena, releaseFromArena } from './backends/cpu/arena.js';
import type { Param } from './types.js';

/** An fp32 param whose grad buffer exists: what {@link createParam} returns. */
export interface Fp32Param extends Param {
  data: Float32Array;
  grad: Float32Array;
}
import { fail, showValue } from './util/errors.js';

/**
 * A param with `length` zeros, or a copy of `values`, and a zeroed grad of the same length, both in
 * adamw-lab's shared memory. Fill `grad` in place (do not replace the array) to keep the fast path.
 */
export function createParam(values: number | ArrayLike<number>, name?: string): Fp32Param {
  const given: unknown = values;
  const numbers = (ArrayBuffer.isView(given) && !(given instanceof DataView) && !(given instanceof BigInt64Array || given instanceof BigUint64Array))
    || (Array.isArray(given) && Array.from(given, (x: unknown, i) => i in given && typeof x === 'number').every(Boolean));
  const length = typeof values === 'number' ? values : numbers ? values.length : NaN;
  // Checked before anything is allocated, so a refusal leaves adamw-lab's memory as it was.
  if (!(Number.isSafeInteger(length) && length >= 0)) {
    fail(TypeError, 'createParam', 'values', `${showValue(values)} is invalid`, 'pass a length (integer >= 0) or an array of numbers');
  }
  if (name !== undefined && typeof name !== 'string') {
    fail(TypeError, 'createParam', 'name', `${showValue(name)} is invalid`, 'name must be a string (or left out)');
  }
  const data = allocateInArena(length);
  if (typeof values !== 'number') data.set(values);
  const grad = allocateInArena(length, data);
  return name === undefined ? { data, grad } : { data, grad, name };
}

/** Return a param's buffers from {@link createParam} to adamw-lab's memory; the param must not be used afterwards. */
export function releaseParam(param: Param): void {
  releaseFromArena(param.data);
  if (param.grad) releaseFromArena(param.grad);
}
