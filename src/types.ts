/**
 * Public types: parameters, parameter groups, options and the state dict.
 * @module
 */
import type { VariantOptions } from './core/variants.js';

export type { PagingOptions, VariantOptions } from './core/variants.js';

/** A trainable tensor: its values and, after the backward pass, its gradient (same length). */
export interface Param {
  /**
   * The values, updated in place by `step()`: a Float32Array, or for `dtype: 'bf16'` a Uint16Array of
   * bfloat16 bit patterns (see `toBf16` / `fromBf16`).
   */
  data: Float32Array | Uint16Array;
  /** `'fp32'` (default) or `'bf16'`; bf16 params need `data` to be a Uint16Array. */
  dtype?: 'fp32' | 'bf16';
  /**
   * The gradient; a param whose grad is null or missing is skipped by `step()`, as in PyTorch. A bf16
   * param's grad may be a Float32Array or a bf16 Uint16Array.
   */
  grad?: Float32Array | Uint16Array | null;
  /** A name used in error messages, e.g. `'encoder.0.weight'`. */
  name?: string;
}

/** Hyperparameters that a param group may set; unset ones take the optimizer's. */
export interface GroupOptions {
  /** Learning rate η (default 1e-3). */
  lr?: number;
  /** (β1, β2) (default [0.9, 0.999]). */
  betas?: [number, number];
  /** ε, added outside the square root (default 1e-8). */
  eps?: number;
  /** Weight decay λ (AdamW default 0.01, Adam 0). */
  weightDecay?: number;
  /** Use the running maximum of v (default false). */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize?: boolean;
}

/** The parts of a WebGPU `GPUBuffer` the optimizer checks; every GPUBuffer has them. */
export interface GpuBufferLike {
  /** Bytes of the buffer. */
  readonly size: number;
  /** Its GPUBufferUsage flags (STORAGE is needed). */
  readonly usage: number;
}

/**
 * The part of a WebGPU `GPUDevice` this package's types name, so that they need no WebGPU type
 * declarations; every GPUDevice is one. With `@webgpu/types`, cast it: `(await getWebGpuDevice()) as GPUDevice`.
 */
export interface GpuDeviceLike {
  /** Make a buffer on the device, e.g. a {@link GpuParam}'s data or grad. */
  createBuffer(descriptor: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GpuBufferLike;
  /** The device's queue. */
  readonly queue: {
    /** Copy host data into a buffer. */
    writeBuffer(buffer: GpuBufferLike, bufferOffset: number, data: ArrayBufferView<ArrayBuffer>): void;
  };
}

/**
 * A param whose values and grad already live on the GPU (backend `'webgpu'` only), as GPUBuffers of
 * the optimizer's device (see `getWebGpuDevice`, or the `device` option). `step()` binds them as they
 * are: nothing is uploaded or downloaded. Each buffer needs STORAGE usage and room for `length`
 * elements rounded up to a multiple of 4 (the kernels read and write whole quads of four).
 */
export interface GpuParam {
  /** fp32 values, or bf16 bit patterns for `dtype: 'bf16'`, `length` of them. */
  data: GpuBufferLike;
  /** Elements of the param. */
  length: number;
  /** `'fp32'` (default) or `'bf16'`. */
  dtype?: 'fp32' | 'bf16';
  /** The gradient, in `gradDtype`; null or missing skips the param, as in PyTorch. */
  grad?: GpuBufferLike | null;
  /** dtype of the grad buffer (default: the param's): a bf16 param may take fp32 grads; an fp32 param takes only fp32. */
  gradDtype?: 'fp32' | 'bf16';
  /** A name used in error messages. */
  name?: string;
}

/** A param of any kind: host arrays ({@link Param}) or GPUBuffers ({@link GpuParam}). */
export type AnyParam = Param | GpuParam;

/** A group of params sharing hyperparameters, as in PyTorch's `param_groups`. */
export interface ParamGroup extends GroupOptions {
  /** The params this group's options apply to. */
  params: AnyParam[];
}

/** Which implementation runs the update. */
export type BackendName = 'cpu' | 'js' | 'webgpu' | 'onnx';

/** ONNX Runtime execution providers backend `'onnx'` knows how to ask for. */
export type OnnxExecutionProvider = 'cuda' | 'webgpu' | 'cpu';

/** Options of the optimizer: group defaults, the variant options, and optimizer-wide choices. */
export interface OptimizerOptions extends GroupOptions, VariantOptions {
  /**
   * `'cpu'` (default): the fused WebAssembly SIMD kernels, on worker threads in Node when a step
   * is large enough to pay for them. `'js'`: the readable TypeScript rules of `src/rules/`.
   * `'webgpu'`: fused WGSL kernels, state resident on the GPU (paged variants stream host pages through it), one dispatch
   * for every tensor that shares a kernel; params may be host arrays or GPUBuffers ({@link GpuParam}).
   * In Node through the `webgpu` package (Dawn). With no adapter the first step rejects, saying how to get one.
   * `'onnx'`: each variant's fused step as an ONNX graph run by onnxruntime-node, on the first of
   * `executionProviders` that runs.
   */
  backend?: BackendName;
  /**
   * Backend `'onnx'` only: the ONNX Runtime execution providers to try, in order (default
   * `['cuda', 'webgpu', 'cpu']`); `backendDescription` says which one runs. `['cpu']` keeps ONNX
   * Runtime off a WebGPU adapter that is only a CPU driver (SwiftShader), for example.
   */
  executionProviders?: ReadonlyArray<OnnxExecutionProvider>;
  /**
   * Backend `'webgpu'` only: the GPUDevice to run on, e.g. the one a model's GPUBuffers
   * ({@link GpuParam}) belong to (default: the process's device, `getWebGpuDevice()`).
   */
  device?: GpuDeviceLike;
  /**
   * Backend `'cpu'` only (refused with the others): threads to use, the calling thread included (default: every hardware thread).
   * Worker threads run only when params live in an adamw-lab arena (see `createParam`) and the step
   * is large enough to pay for them.
   */
  threads?: number;
}

/**
 * Saved state of one param, named as the library each variant comes from names it: PyTorch
 * (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`), optimi (`kahan_comp`), bitsandbytes (`state1`,
 * `state2`, `absmax1`, `absmax2`) and diffusion-pipe (`shift`). Which are present depends on the
 * param's plan; bf16 buffers are Uint16Arrays of bit patterns.
 */
export interface ParamStateDict {
  /** Steps taken by this param. */
  step: number;
  /** First moment m (fp32, or bf16 bits for optimi's bf16 moments). */
  exp_avg?: Float32Array | Uint16Array;
  /** Second moment v (fp32, or bf16 bits for optimi's bf16 moments). */
  exp_avg_sq?: Float32Array | Uint16Array;
  /** Running maximum of v, with amsgrad. */
  max_exp_avg_sq?: Float32Array;
  /** optimi's Kahan compensation for bf16 params (bf16 bits). */
  kahan_comp?: Uint16Array;
  /** bitsandbytes' 8-bit codes of m. */
  state1?: Uint8Array;
  /** bitsandbytes' 8-bit codes of v. */
  state2?: Uint8Array;
  /** One float32 absmax of m per 256-element block. */
  absmax1?: Float32Array;
  /** One float32 absmax of v per 256-element block. */
  absmax2?: Float32Array;
  /** diffusion-pipe's Kahan buffer for AdamW8bitKahan (bf16 bits). */
  shift?: Uint16Array;
}

/** Saved hyperparameters of one group; `params` holds flat param indices. */
export interface ParamGroupStateDict extends Required<GroupOptions> {
  /** Flat indices of the group's params, counted across groups. */
  params: number[];
}

/** The optimizer's state, laid out as PyTorch's `optimizer.state_dict()`. Arrays are copies. */
export interface StateDict {
  /** Per-param state, keyed by flat param index. */
  state: Record<number, ParamStateDict>;
  /** Each group's hyperparameters and param indices. */
  paramGroups: ParamGroupStateDict[];
}
