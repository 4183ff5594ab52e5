/**
 * Which Vulkan driver Dawn (the `webgpu` package) should use in Node, for the tests, the notebooks
 * and bench:gpu: NVIDIA's when its driver is installed, else chromium's SwiftShader, a CPU driver that
 * .ci/run installs. Mesa's drivers are not trusted: Dawn rejects lavapipe, and Mesa ships GPU
 * drivers on machines without those GPUs. Set VK_ICD_FILENAMES yourself for another GPU. Must run
 * before the first WebGPU device is requested; a driver already chosen is left alone.
 */
import { existsSync } from 'node:fs';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const NVIDIA_ICDS = ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/share/vulkan/icd.d/nvidia_icd.json', '/etc/vulkan/icd.d/nvidia_icd.json'];

/** Set VK_ICD_FILENAMES / VK_DRIVER_FILES as above; returns whether SwiftShader was chosen. */
export function chooseVulkanDriver(): boolean {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return process.env.VK_ICD_FILENAMES === SWIFTSHADER_ICD;
  const nvidia = NVIDIA_ICDS.find((f) => existsSync(f));
  if (nvidia) {
    process.env.VK_DRIVER_FILES = nvidia;
    return false;
  }
  if (!existsSync(SWIFTSHADER_ICD)) return false;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return true;
}
