/**
 * The WGSL kernels of kernels/wgsl/ as this backend runs them: the layouts of the structs the host
 * writes (parsed from the shaders at build time, so each is declared once, in WGSL) and the compiled
 * pipelines.
 * @module
 */
import { ADAM_WGSL, BLOCKWISE8BIT_WGSL, DEBIASED_WGSL, STABLE_RMS_WGSL, WINDOW_STRUCT } from './kernels.generated.js';

/** Every kernel, by the name the store uses. */
export const KERNELS = { adam: ADAM_WGSL, debiased: DEBIASED_WGSL, blockwise8bit: BLOCKWISE8BIT_WGSL, stableRms: STABLE_RMS_WGSL } as const;

/** A kernel's name. */
export type KernelName = keyof typeof KERNELS;

/** A struct of 4-byte fields as the build script parsed it. */
interface StructLayout {
  readonly fields: readonly string[];
  readonly types: readonly ('f32' | 'u32')[];
}

/** The values of a kernel's per-tensor `struct Segment`, one per field. */
export type SegmentOf<N extends KernelName> = Record<(typeof KERNELS)[N]['fields'][number], number>;

/** The values of common.wgsl's `struct Window`: what one dispatch covers. */
export type WindowValues = Record<(typeof WINDOW_STRUCT)['fields'][number], number>;

/** Bytes of one `Segment` of kernel `name`: its stride in a storage array (4 bytes a field). */
export function segmentBytes(name: KernelName): number {
  return KERNELS[name].fields.length * 4;
}

function pack(layout: StructLayout, values: Record<string, number>, view: DataView, byteOffset: number): void {
  layout.fields.forEach((field, i) => {
    const x = values[field]!;
    if (layout.types[i] === 'u32') view.setUint32(byteOffset + i * 4, x, true);
    else view.setFloat32(byteOffset + i * 4, x, true);
  });
}

/** Write segment `values` of kernel `name` into `view` at `byteOffset`, in the struct's field order. */
export function packSegment<N extends KernelName>(name: N, values: SegmentOf<N>, view: DataView, byteOffset: number): void {
  pack(KERNELS[name], values, view, byteOffset);
}

/** The uniform bytes of a `Window` (its fields, rounded up to 16 bytes). */
export function packWindow(values: WindowValues): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.ceil((WINDOW_STRUCT.fields.length * 4) / 16) * 16);
  pack(WINDOW_STRUCT, values, new DataView(bytes), 0);
  return bytes;
}

/**
 * Every kernel's pipeline on `device`, made synchronously (for callers that cannot await, such as
 * adamw-lab/tfjs's first step): a kernel that does not compile shows as a validation error of the
 * device, which the caller catches with an error scope.
 */
export function compilePipelinesSync(device: GPUDevice): Record<KernelName, GPUComputePipeline> {
  return Object.fromEntries((Object.keys(KERNELS) as KernelName[]).map((name) => [name, pipelineOf(device, name, device.createShaderModule({ code: KERNELS[name].code, label: name }))])) as Record<KernelName, GPUComputePipeline>;
}

function pipelineOf(device: GPUDevice, name: KernelName, module: GPUShaderModule): GPUComputePipeline {
  return device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: name });
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
    entries.push([name, pipelineOf(device, name, module)]);
  }
  return Object.fromEntries(entries) as Record<KernelName, GPUComputePipeline>;
}
