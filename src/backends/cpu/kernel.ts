/**
 * The WebAssembly kernel module: its bytes (compiled from kernels/wasm/*.ts by scripts/build-wasm.mjs
 * and embedded as base64, so both the CommonJS and ESM builds and browsers load it without file
 * paths) and the one declaration of its exports' signatures.
 * @module
 */
import { ADAM_WASM_BASE64 } from './kernel.generated.js';

/** Exports of kernels/wasm/index.ts, declared once. Addresses are byte offsets into the module's memory. */
export interface WasmKernelExports {
  /** fp32 Adam/AdamW (PyTorch); scalars from adamStepScalars. */
  adamStepF32(
    param: number, grad: number, expAvg: number, expAvgSq: number, maxExpAvgSq: number, length: number,
    amsgrad: number, gradSign: number, decay: number, l2: number, oneMinusBeta1: number, beta2: number,
    oneMinusBeta2: number, invSqrtBiasCorrection2: number, eps: number, negStepSize: number,
  ): void;
  /** optimi AdamW in one pass (not StableAdamW). `kahanComp` is 0 without Kahan summation. */
  optimiStep(
    param: number, grad: number, expAvg: number, expAvgSq: number, kahanComp: number, length: number,
    paramBf16: number, gradBf16: number, momentsBf16: number, kahan: number,
    gradSign: number, oneMinusBeta1Hat: number, beta2Hat: number, oneMinusBeta2Hat: number, decay: number, negLr: number, eps: number,
  ): void;
  /** StableAdamW pass 1: update the moments, return Σ g²/max(v̂, ε²). */
  optimiMomentsRms(
    grad: number, expAvg: number, expAvgSq: number, length: number, gradBf16: number, momentsBf16: number,
    gradSign: number, oneMinusBeta1Hat: number, beta2Hat: number, oneMinusBeta2Hat: number, epsSquared: number,
  ): number;
  /** StableAdamW pass 2: the param update with the scaled lr. */
  optimiUpdate(
    param: number, expAvg: number, expAvgSq: number, kahanComp: number, length: number, paramBf16: number, momentsBf16: number,
    kahan: number, decay: number, negLr: number, eps: number,
  ): void;
  /** 8-bit blockwise AdamW; `shift` is 0 without Kahan summation. */
  adam8bitStep(
    param: number, grad: number, codes1: number, codes2: number, absmax1: number, absmax2: number, shift: number, length: number,
    signedTable: number, unsignedTable: number, paramBf16: number, gradBf16: number,
    gradSign: number, beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number,
    decay: number, stepSize: number, invSqrtBiasCorrection2: number, eps: number, scratch: number,
  ): void;
  /** StableAdamW pass for 8-bit state: Σ g²/max(v̂, ε²) over the updated v, without writing. */
  adam8bitRmsSum(
    grad: number, codes2: number, absmax2: number, length: number, unsignedTable: number, gradBf16: number,
    gradSign: number, beta2: number, oneMinusBeta2: number, biasCorrection2: number, epsSquared: number,
  ): number;
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
