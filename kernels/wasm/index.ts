// AssemblyScript entry point: every CPU kernel, compiled into one WebAssembly SIMD module.
// @ts-nocheck  -- AssemblyScript.
export { adamStepF32 } from './adam';
export { debiasedStep, debiasedMomentsRms, debiasedUpdate } from './debiased';
export {
  adam8bitStep, adam8bitRmsSum, QUANTIZATION_ENTRIES_OFFSET, QUANTIZATION_TABLE_BYTES,
} from './blockwise8bit';
