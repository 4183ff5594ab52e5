/**
 * The WebGPU device in Node, through Dawn (the `webgpu` npm package). Browsers get device-browser.ts
 * instead (package.json "browser" field), which uses navigator.gpu.
 * @module
 */
import { dirname, join } from 'node:path';

/** How to get an adapter, for the error raised when there is none. */
export const NO_ADAPTER_HELP =
  'in Node, install the `webgpu` package (Dawn) and a Vulkan driver: on Debian, `apt-get install libvulkan1 chromium` ' +
  'and run with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (a CPU Vulkan driver), or use a machine with ' +
  "a GPU; otherwise use backend: 'cpu'";

let device: Promise<GPUDevice> | undefined;
let settled: GPUDevice | undefined;

/** The device once {@link webgpuDevice} has resolved (for synchronous calls such as `zeroGrad()`). */
export function settledWebgpuDevice(): GPUDevice | undefined {
  return settled;
}
/**
 * The Dawn instance, kept: once it is garbage-collected, the device's next call crashes the process
 * (segfaults, or glibc futex and mutex assertions). Holding it does not keep Node from exiting.
 */
const dawnInstances: GPU[] = [];

/**
 * The process's WebGPU device, requested once and kept: Dawn crashes when a second device is made
 * after the first is destroyed, and a kept device (with its instance) does not stop Node from
 * exiting. Rejects, saying how to get one, without an adapter.
 */
export function webgpuDevice(owner: string): Promise<GPUDevice> {
  device ??= (async () => {
    let gpu: GPU;
    try {
      const root = dirname(require.resolve('webgpu/package.json'));
      const platform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon, loaded by path
      const dawn = require(join(root, 'dist', platform, 'dawn.node')) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
      Object.assign(globalThis, dawn.globals);
      gpu = dawn.create([]);
      dawnInstances.push(gpu);
    } catch (e) {
      throw new Error(`${owner}: backend 'webgpu': the webgpu package (Dawn) could not be loaded (${(e as Error).message}); ${NO_ADAPTER_HELP}`);
    }
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error(`${owner}: backend 'webgpu': no WebGPU adapter was found; ${NO_ADAPTER_HELP}`);
    settled = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    return settled;
  })();
  // A later call may try again (e.g. after installing a driver).
  device.catch(() => (device = undefined));
  return device;
}
