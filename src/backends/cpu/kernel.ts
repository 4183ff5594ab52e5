/**
 * The WebAssembly kernel module: its bytes (compiled from kernels/wasm/*.ts by scripts/build-wasm.mjs
 * and embedded as base64, so both the CommonJS and ESM builds and browsers load it without file
 * paths) and its exports' types.
 * @module
 */
import type { WasmKernelFunctions } from './kernel-abi.generated.js';
import { ADAM_WASM_BASE64 } from './kernel.generated.js';

/**
 * Exports of kernels/wasm/index.ts. The functions' signatures are generated from the AssemblyScript
 * (kernel-abi.generated.ts, by scripts/build-wasm.mjs), so their argument lists are written once, in
 * kernels/wasm/. Addresses are byte offsets into the module's memory.
 */
export interface WasmKernelExports extends WasmKernelFunctions {
  /** Layout of one map's quantization tables: 256 f32 values, then 65536 u32 entries (quantization-tables.ts). */
  QUANTIZATION_ENTRIES_OFFSET: WebAssembly.Global;
  QUANTIZATION_TABLE_BYTES: WebAssembly.Global;
}

/** Memory pages the module may grow to: 65536 pages of 64 KiB, the 4 GiB a wasm32 module addresses. */
export const MAX_PAGES = 65536;
export const PAGE_BYTES = 65536;

let compiled: WebAssembly.Module | undefined;

/** The compiled kernel module, compiled once per process (or worker). */
export function kernelModule(): WebAssembly.Module {
  if (!compiled) {
    const binary = atob(ADAM_WASM_BASE64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    if (!WebAssembly.validate(bytes)) {
      throw new Error(
        'adamw-lab: this JavaScript engine cannot run the WebAssembly SIMD kernel (needs wasm SIMD and threads: ' +
          "Node >= 20, Chrome >= 91, Firefox >= 89, Safari >= 16.4); pass backend: 'js' to use the TypeScript loop",
      );
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** Instantiate the kernel module over `memory`. */
export function instantiateKernel(memory: WebAssembly.Memory): WasmKernelExports {
  const instance = new WebAssembly.Instance(kernelModule(), { env: { memory } });
  return instance.exports as unknown as WasmKernelExports;
}
