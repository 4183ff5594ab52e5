/** Checks of hyperparameters and params, shared by the constructor, addParamGroup and loadStateDict. */
import type { AnyParam, GpuBufferLike, GpuParam, GroupOptions } from '../types.js';
import { describeParam, fail, showValue } from '../util/errors.js';
import { gpuGradDtype, isGpuParam } from '../core/params.js';

export { GROUP_KEYS, gpuGradDtype, isGpuParam, paramDtype, paramLength } from '../core/params.js';

/** Throw unless every hyperparameter present in `group` is in its allowed range. */
export function validateGroupOptions(owner: string, where: string, group: GroupOptions): void {
  const { lr, betas, eps, weightDecay, amsgrad, maximize } = group;
  if (lr !== undefined && !(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0)) {
    fail(RangeError, owner, where, `lr = ${showValue(lr)} is invalid`, 'lr must be a finite number >= 0');
  }
  if (eps !== undefined && !(typeof eps === 'number' && Number.isFinite(eps) && eps >= 0)) {
    fail(RangeError, owner, where, `eps = ${showValue(eps)} is invalid`, 'eps must be a finite number >= 0');
  }
  if (weightDecay !== undefined && !(typeof weightDecay === 'number' && Number.isFinite(weightDecay) && weightDecay >= 0)) {
    fail(RangeError, owner, where, `weightDecay = ${showValue(weightDecay)} is invalid`, 'weightDecay must be a finite number >= 0');
  }
  if (betas !== undefined) {
    if (!Array.isArray(betas) || betas.length !== 2) {
      fail(TypeError, owner, where, `betas = ${showValue(betas)} is invalid`, 'betas must be a pair [beta1, beta2]');
    }
    // An index loop, not forEach: forEach skips the holes of a sparse array such as [, 0.999].
    for (let i = 0; i < 2; i++) {
      const beta: unknown = betas[i];
      if (!(typeof beta === 'number' && beta >= 0 && beta < 1)) {
        fail(RangeError, owner, where, `betas[${i}] = ${i in betas ? showValue(beta) : '(a hole)'} is invalid`, `beta${i + 1} must be in [0, 1)`);
      }
    }
  }
  for (const [key, value] of [['amsgrad', amsgrad], ['maximize', maximize]] as const) {
    if (value !== undefined && typeof value !== 'boolean') {
      fail(TypeError, owner, where, `${key} = ${showValue(value)} is invalid`, `${key} must be true or false`);
    }
  }
}

/** WebGPU's GPUBufferUsage.STORAGE (a constant of the spec; the global exists only where WebGPU is loaded). */
const STORAGE_USAGE = 0x80;

const isGpuBufferLike = (x: unknown): x is GpuBufferLike =>
  typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && typeof (x as GpuBufferLike).size === 'number' && typeof (x as GpuBufferLike).usage === 'number';

/** Throw unless `buffer` can be bound as `length` elements of `bytes` each (whole quads of four). */
function checkGpuBuffer(owner: string, where: string, what: string, buffer: GpuBufferLike, length: number, bytes: number): void {
  if ((buffer.usage & STORAGE_USAGE) === 0) {
    fail(TypeError, owner, where, `${what} is a GPUBuffer without STORAGE usage`, 'create it with GPUBufferUsage.STORAGE (and COPY_SRC / COPY_DST as your model needs)');
  }
  const needed = Math.ceil(length / 4) * 4 * bytes;
  if (buffer.size < needed) {
    fail(RangeError, owner, where, `${what} is a GPUBuffer of ${buffer.size} bytes`,
      `${length} elements of ${bytes} bytes need at least ${needed} (the length rounded up to a multiple of 4: the kernels work in quads)`);
  }
}

/**
 * Where GPUBuffer params may go: `'accepted'` (a backend whose state is device-resident), `'paged'`
 * (such a backend with paged state, which streams host pages) or `'refused'` (state in host memory).
 */
export type GpuParamPolicy = 'accepted' | 'paged' | 'refused';

/**
 * Throw unless `param` is a param object whose data matches its dtype: host arrays ({@link Param}),
 * or GPUBuffers ({@link GpuParam}) where `backend`'s policy accepts them.
 */
export function validateParam(owner: string, index: number, param: AnyParam, backend: { name: string; gpuParams: GpuParamPolicy }): void {
  if (typeof param !== 'object' || param === null) {
    fail(TypeError, owner, `param ${index}`, `${showValue(param)} is not a param`, 'a param is an object { data: Float32Array, grad?, name? }');
  }
  const where = describeParam(index, param.name);
  if (param.dtype !== undefined && param.dtype !== 'fp32' && param.dtype !== 'bf16') {
    fail(TypeError, owner, where, `dtype = ${showValue(param.dtype)} is not supported`, "dtype must be 'fp32' (default) or 'bf16'");
  }
  if (isGpuBufferLike(param.data)) {
    const gpu = param as GpuParam;
    if (backend.gpuParams !== 'accepted') {
      fail(TypeError, owner, where, `data is a GPUBuffer, which backend '${backend.name}' cannot update`, backend.gpuParams === 'paged'
        ? 'paged state streams host pages, so it needs host arrays; drop paged to keep a GPUBuffer model\'s state resident'
        : "use backend: 'webgpu', or host arrays (Float32Array, or Uint16Array bf16 bits)");
    }
    if (!(Number.isInteger(gpu.length) && gpu.length > 0)) {
      fail(RangeError, owner, where, `length = ${showValue(gpu.length)} is invalid`, 'a GPUBuffer param needs length: its element count, an integer >= 1');
    }
    checkGpuBuffer(owner, where, 'data', gpu.data, gpu.length, param.dtype === 'bf16' ? 2 : 4);
    return;
  }
  if (param.dtype === 'bf16') {
    if (!(param.data instanceof Uint16Array)) {
      fail(TypeError, owner, where, `dtype is 'bf16' but data is ${showValue(param.data)}`, 'bf16 data must be a Uint16Array of bf16 bit patterns (see toBf16)');
    }
  } else if (!(param.data instanceof Float32Array)) {
    fail(TypeError, owner, where, `data is ${showValue(param.data)}`,
      param.data instanceof Uint16Array ? "data must be a Float32Array, or set dtype: 'bf16' for a Uint16Array of bf16 bits" : 'data must be a Float32Array (or a GPUBuffer with backend \'webgpu\')');
  }
}

/**
 * The param's fields, each read once: `step()` validates this copy and hands only it on, so a getter,
 * or a `grad` replaced while a step runs, cannot put unchecked arrays in front of a kernel.
 * Non-objects come back as they are, for {@link validateParam} to refuse.
 */
export function readParamOnce(param: AnyParam): AnyParam {
  if (typeof param !== 'object' || param === null) return param;
  const { name, dtype, data, grad } = param;
  if (!isGpuBufferLike(data)) return { name, dtype, data, grad } as AnyParam;
  const { length, gradDtype } = param as GpuParam;
  return { name, dtype, data, grad, length, gradDtype } as GpuParam;
}

/** Throw unless `param`'s grad (when present) is of an allowed type and of the same length as its data. */
export function validateGrad(owner: string, index: number, param: AnyParam): void {
  const { grad } = param;
  if (grad === null || grad === undefined) return;
  const where = describeParam(index, param.name);
  const bf16 = param.dtype === 'bf16';
  if (isGpuParam(param)) {
    if (!isGpuBufferLike(grad)) fail(TypeError, owner, where, `grad is ${showValue(grad)}`, 'a GPUBuffer param\'s grad must be a GPUBuffer (or null to skip the param)');
    const gradDtype = gpuGradDtype(param);
    if (gradDtype !== 'fp32' && gradDtype !== 'bf16') fail(TypeError, owner, where, `gradDtype = ${showValue(gradDtype)} is not supported`, "gradDtype must be 'fp32' or 'bf16'");
    if (gradDtype === 'bf16' && !bf16) fail(TypeError, owner, where, "gradDtype is 'bf16' but the param is fp32", "an fp32 param's grad must be fp32");
    checkGpuBuffer(owner, where, 'grad', grad, param.length, gradDtype === 'bf16' ? 2 : 4);
    return;
  }
  if (!(grad instanceof Float32Array || (bf16 && grad instanceof Uint16Array))) {
    fail(TypeError, owner, where, `grad is ${showValue(grad)}`,
      bf16 ? 'a bf16 param\'s grad must be a Float32Array or a bf16 Uint16Array (or null to skip the param)' : 'grad must be a Float32Array (or null to skip the param)');
  }
  if (grad.length !== param.data.length) {
    fail(RangeError, owner, where, `grad has length ${grad.length} but data has length ${param.data.length}`, 'they must be equal');
  }
}
