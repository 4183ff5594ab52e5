/**
 * The one registry of backends and their kernels, filled here, in one place: each backend registers
 * how it is created and its implementation of every kernel variant it runs. The optimizer creates its
 * backend and finds each param's kernel here; the parity tests are generated from what is registered.
 * @module
 */
import { KernelRegistry } from '../core/kernel-registry.js';
import type { Backend, BackendOptions } from './backend.js';
import { registerCpuBackend } from './cpu/wasm-backend.js';
import { registerJsBackend } from './js.js';
import { registerOnnxBackend } from './onnx/onnx-backend.js';
import { registerWebGpuBackend } from './webgpu/webgpu-backend.js';

export const BACKENDS = new KernelRegistry<Backend, BackendOptions>();
registerCpuBackend(BACKENDS);
registerJsBackend(BACKENDS);
registerWebGpuBackend(BACKENDS);
registerOnnxBackend(BACKENDS);
