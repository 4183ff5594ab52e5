/**
 * The WebGPU device in browsers (package.json "browser" field replaces device.ts with this file).
 * @module
 */

/** How to get an adapter, for the error raised when there is none. */
export const NO_ADAPTER_HELP =
  "this browser exposes no WebGPU adapter (navigator.gpu); use a browser with WebGPU enabled, or backend: 'cpu'";

let device: Promise<GPUDevice> | undefined;
let settled: GPUDevice | undefined;

/** The device once {@link webgpuDevice} has resolved (for synchronous calls such as `zeroGrad()`). */
export function settledWebgpuDevice(): GPUDevice | undefined {
  return settled;
}

/** The page's WebGPU device, requested once and kept. Rejects, saying how to get one, without an adapter. */
export function webgpuDevice(owner: string): Promise<GPUDevice> {
  device ??= (async () => {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    const adapter = gpu ? await gpu.requestAdapter() : null;
    if (!adapter) throw new Error(`${owner}: backend 'webgpu': no WebGPU adapter was found; ${NO_ADAPTER_HELP}`);
    settled = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
    return settled;
  })();
  device.catch(() => (device = undefined));
  return device;
}
