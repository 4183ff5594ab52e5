/**
 * adamw-lab: AdamW and its memory-saving variants, computed exactly as PyTorch does, for TypeScript
 * training loops in Node and browsers.
 *
 * @example
 * ```ts
 * import { AdamW } from 'adamw-lab';
 * const w = { data: new Float32Array([1, 2, 3]), grad: new Float32Array([0.1, -0.2, 0.3]) };
 * const opt = new AdamW([w], { lr: 1e-3 });
 * await opt.step();
 * ```
 * @module adamw-lab
 */
export { AdamOptimizer, TORCH_ADAMW_DEFAULTS } from './optim/adam-optimizer.js';
export type { AdamVariant, ResolvedParamGroup } from './optim/adam-optimizer.js';
export type { PagingOptions, VariantOptions } from './core/variants.js';
export type { PagingStats } from './optim/state-store.js';
export { Adam, AdamW, AdamW8bit, AdamW8bitKahan, OPTIMI_DEFAULTS, PagedAdamW, PagedAdamW8bit, StableAdamW } from './optim/presets.js';
export type { AdamW8bitKahanOptions } from './optim/presets.js';
export { PRESET_CATALOG } from './optim/catalog.js';
export type { PresetEntry, PresetEquivalent } from './optim/catalog.js';
export { adamReferenceStep, adamStepScalars } from './rules/adam.js';
export type { AdamHyperparameters, AdamStepScalars, CoreHyperparameters, NumericBuffer, TensorStepReport } from './rules/adam.js';
export {
  constantSchedule, constantWithWarmupSchedule, cosineWithWarmupSchedule, linearWithWarmupSchedule, LRScheduler,
} from './schedule.js';
export type { LrMultiplier } from './schedule.js';
export { clipGradNorm } from './clip.js';
export type { ClipGradNormOptions } from './clip.js';
export { createParam, releaseParam } from './memory.js';
export { getWebGpuDevice } from './backends/webgpu/webgpu-store.js';
export type { Fp32Param } from './memory.js';
export type {
  AnyParam, BackendName, GpuBufferLike, GpuDeviceLike, GpuParam, GroupOptions, OnnxExecutionProvider, OptimizerOptions, Param, ParamGroup,
  ParamGroupStateDict, ParamStateDict, StateDict,
} from './types.js';
export { bf16ToFloat, floatToBf16, floatToBf16Stochastic, fromBf16, roundToBf16, toBf16 } from './rules/bf16.js';
export type { Bf16RoundingOptions } from './rules/bf16.js';
// The public names keep the optimi library's name (the family inside is `debiased`).
export { debiasedBeta, debiasedReferenceStep as optimiReferenceStep, debiasedStepScalars as optimiStepScalars } from './rules/debiased.js';
export type { DebiasedHyperparameters as OptimiHyperparameters, DebiasedStepScalars as OptimiStepScalars } from './rules/debiased.js';
export {
  adam8bitReferenceStep, adam8bitStepScalars, BLOCK_SIZE, createBlockwise8bitState, dequantize, dynamicMap, MIN_8BIT_SIZE, quantize, quantizeSigned,
} from './rules/blockwise8bit.js';
export type { Adam8bitHyperparameters, Adam8bitStepScalars, Blockwise8bitState } from './rules/blockwise8bit.js';
export { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION } from './checkpoint/checkpoint.js';
export { decodeSafetensors, encodeSafetensors, SafetensorsFormatError } from './checkpoint/safetensors.js';
export type { DecodedSafetensors, SafetensorsDtype, SafetensorsLimits, SafetensorsTensor } from './checkpoint/safetensors.js';
export { VERSION } from './version.js';
