/**
 * The WGSL kernels of kernels/wgsl/ as this backend runs them: each one's uniform layout (parsed from
 * its `struct Scalars` at build time, so it is declared once, in the shader) and its compiled pipeline.
 * @module
 */
import { ADAM_WGSL, BLOCKWISE8BIT_WGSL, OPTIMI_WGSL, STABLE_RMS_WGSL } from './kernels.generated.js';

/** Every kernel, by the name the store uses. */
export const KERNELS = { adam: ADAM_WGSL, optimi: OPTIMI_WGSL, blockwise8bit: BLOCKWISE8BIT_WGSL, stableRms: STABLE_RMS_WGSL } as const;

/** A kernel's name. */
export type KernelName = keyof typeof KERNELS;

/** The values of a kernel's uniform, one per field of its `struct Scalars`. */
export type ScalarsOf<N extends KernelName> = Record<(typeof KERNELS)[N]['scalars'][number], number>;

/** Bytes of a kernel's uniform buffer: its fields (4 bytes each), rounded up to 16. */
export function uniformBytes(name: KernelName): number {
  return Math.ceil((KERNELS[name].scalars.length * 4) / 16) * 16;
}

/** The uniform bytes of kernel `name` holding `values`, in the struct's field order. */
export function packScalars<N extends KernelName>(name: N, values: ScalarsOf<N>): ArrayBuffer {
  const kernel = KERNELS[name];
  const bytes = new ArrayBuffer(uniformBytes(name));
  const view = new DataView(bytes);
  kernel.scalars.forEach((field, i) => {
    const x = (values as Record<string, number>)[field]!;
    if (kernel.types[i] === 'u32') view.setUint32(i * 4, x, true);
    else view.setFloat32(i * 4, x, true);
  });
  return bytes;
}

/** Every kernel's pipeline on `device`; a kernel the device cannot compile is an error naming it. */
export async function compilePipelines(owner: string, device: GPUDevice): Promise<Record<KernelName, GPUComputePipeline>> {
  // One at a time: Dawn in Node has crashed on overlapping compilation-info requests.
  const entries: Array<[KernelName, GPUComputePipeline]> = [];
  for (const name of Object.keys(KERNELS) as KernelName[]) {
    const module = device.createShaderModule({ code: KERNELS[name].code, label: name });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      throw new Error(`${owner}: backend 'webgpu': the WGSL kernel '${name}' does not compile on this device: ` +
        `${errors.map((m) => `line ${m.lineNum}: ${m.message}`).join('; ')}; use backend 'cpu'`);
    }
    entries.push([name, device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: name })]);
  }
  return Object.fromEntries(entries) as Record<KernelName, GPUComputePipeline>;
}
