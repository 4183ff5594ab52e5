/**
 * `backend: 'webgpu'`. Its state is device-resident: the optimizer keeps it in this backend's own
 * store (./webgpu-store.ts), on the GPU, rather than in host buffers. Paged state is the exception:
 * the paged store keeps it in host pages and hands them to this backend one at a time, which streams
 * each through a device frame (./webgpu-pages.ts).
 * @module
 */
import type { StateStore } from '../../core/state-store.js';
import type { BackendRegistry } from '../backend.js';
import { WebGpuPageBackend } from './webgpu-pages.js';
import type { WebGpuStoreOptions } from './webgpu-store.js';
import { WGSL_KERNELS } from './wgsl-kernels.js';

export class WebGpuBackend extends WebGpuPageBackend {
  constructor(owner: string, private readonly options: WebGpuStoreOptions & { paged: boolean }) {
    super(owner, options);
  }

  override get description(): string {
    return this.options.paged ? super.description : this.store.description;
  }

  /** The state on the device: every tensor that shares a kernel in one slab, updated by one dispatch. */
  residentStore(): StateStore {
    return this.store;
  }

  zeroGpuBuffer(buffer: GPUBuffer): void {
    this.store.zeroBuffer(buffer);
  }
}

/** Backend 'webgpu' and its kernels: one WGSL kernel per family serves every variant of it. */
export function registerWebGpuBackend(registry: BackendRegistry): void {
  registry.registerBackend('webgpu', { deviceResidentState: true }, (owner, options) => new WebGpuBackend(owner, { device: options.device, paged: options.paged }));
  registry.registerVariants('webgpu', (variant) => WGSL_KERNELS[variant.family]);
}
