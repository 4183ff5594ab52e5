/**
 * tfjs-backend-webgpu in Node, on the Dawn device that the core's backend 'webgpu' uses (the `webgpu`
 * package; SwiftShader's Vulkan driver without a GPU, see vulkan-driver.ts). The package looks for
 * `navigator.gpu` only to see that WebGPU exists, and asks it for an adapter in its factory, which is
 * replaced here by one around Dawn's device, under tfjs's own name 'webgpu' (where its kernels are
 * registered). For the tfjs webgpu tests and `npm run bench:tfjs`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { webgpuDevice } from '../src/backends/webgpu/device.js';
import { chooseVulkanDriver } from './vulkan-driver.js';

let registered: Promise<GPUDevice> | undefined;

/** Register tfjs's 'webgpu' backend on Dawn's device (once); rejects, saying why, without an adapter. */
export function registerTfjsWebGpuOnDawn(): Promise<GPUDevice> {
  registered ??= (async () => {
    chooseVulkanDriver();
    const device = await webgpuDevice('tfjs webgpu in Node');
    const g = globalThis as { navigator?: { gpu?: unknown } };
    g.navigator ??= {};
    g.navigator.gpu ??= {};
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new WebGPUBackend(device, { vendor: 'dawn', architecture: '' } as GPUAdapterInfo));
    return device;
  })();
  return registered;
}
