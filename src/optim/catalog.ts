/**
 * The presets as data: which class, for which param dtype, and where users meet the same optimizer
 * outside adamw-lab. The docs site's variant tables, memory planner and playground are generated
 * from this list and from the optimizers it constructs, so the library is their one source of truth.
 * @module
 */
import type { OptimizerOptions, Param, ParamGroup } from '../types.js';
import type { AdamOptimizer } from './adam-optimizer.js';
import { Adam, AdamW, AdamW8bit, AdamW8bitKahan, PagedAdamW, PagedAdamW8bit, StableAdamW } from './presets.js';

/** A project whose users meet a preset, and the exact name or config they write there. */
export interface PresetEquivalent {
  /** The project. */
  project: 'PyTorch' | 'bitsandbytes' | 'optimi' | 'sd-scripts' | 'diffusion-pipe' | 'DiffSynth-Studio';
  /** What a user writes in that project to get this optimizer. */
  code: string;
}

/** One row of the preset catalog. */
export interface PresetEntry {
  /** Row label: the class name, with the param dtype when a class serves two. */
  label: string;
  /** The class's name, as exported by `adamw-lab`. */
  className: 'Adam' | 'AdamW' | 'AdamW8bit' | 'PagedAdamW' | 'PagedAdamW8bit' | 'StableAdamW' | 'AdamW8bitKahan';
  /** Construct the optimizer. */
  create(params: Param[] | ParamGroup[], options?: OptimizerOptions): AdamOptimizer;
  /** The param dtype this row is for; bf16 params turn on Kahan summation where the preset allows it. */
  paramDtype: 'fp32' | 'bf16';
  /** Where the same optimizer is used, most direct first. */
  equivalents: readonly PresetEquivalent[];
}

/** Every preset, in the order the docs list them. */
export const PRESET_CATALOG: readonly PresetEntry[] = [
  {
    label: 'AdamW',
    className: 'AdamW',
    create: (params, options) => new AdamW(params, options),
    paramDtype: 'fp32',
    equivalents: [
      { project: 'PyTorch', code: 'torch.optim.AdamW' },
      { project: 'sd-scripts', code: '--optimizer_type="AdamW"' },
      { project: 'diffusion-pipe', code: "type = 'adamw'" },
      { project: 'DiffSynth-Studio', code: 'torch.optim.AdamW (default)' },
    ],
  },
  {
    label: 'Adam',
    className: 'Adam',
    create: (params, options) => new Adam(params, options),
    paramDtype: 'fp32',
    equivalents: [{ project: 'PyTorch', code: 'torch.optim.Adam' }],
  },
  {
    label: 'AdamW8bit',
    className: 'AdamW8bit',
    create: (params, options) => new AdamW8bit(params, options),
    paramDtype: 'fp32',
    equivalents: [
      { project: 'bitsandbytes', code: 'bnb.optim.AdamW8bit' },
      { project: 'sd-scripts', code: '--optimizer_type="AdamW8bit"' },
      { project: 'diffusion-pipe', code: "type = 'adamw8bit'" },
      { project: 'DiffSynth-Studio', code: '--customized_optimizer bitsandbytes.optim.AdamW8bit' },
    ],
  },
  {
    label: 'PagedAdamW',
    className: 'PagedAdamW',
    create: (params, options) => new PagedAdamW(params, options),
    paramDtype: 'fp32',
    equivalents: [
      { project: 'bitsandbytes', code: 'bnb.optim.PagedAdamW' },
      { project: 'sd-scripts', code: '--optimizer_type="PagedAdamW"' },
    ],
  },
  {
    label: 'PagedAdamW8bit',
    className: 'PagedAdamW8bit',
    create: (params, options) => new PagedAdamW8bit(params, options),
    paramDtype: 'fp32',
    equivalents: [
      { project: 'bitsandbytes', code: 'bnb.optim.PagedAdamW8bit' },
      { project: 'sd-scripts', code: '--optimizer_type="PagedAdamW8bit"' },
      { project: 'DiffSynth-Studio', code: '--customized_optimizer bitsandbytes.optim.PagedAdamW8bit' },
    ],
  },
  {
    label: 'AdamW (bf16 params)',
    className: 'AdamW',
    create: (params, options) => new AdamW(params, options),
    paramDtype: 'bf16',
    equivalents: [
      { project: 'optimi', code: 'optimi.AdamW (kahan_sum=None → on for bf16)' },
      { project: 'diffusion-pipe', code: "type = 'adamw_optimi'" },
    ],
  },
  {
    label: 'StableAdamW',
    className: 'StableAdamW',
    create: (params, options) => new StableAdamW(params, options),
    paramDtype: 'fp32',
    equivalents: [
      { project: 'optimi', code: 'optimi.StableAdamW' },
      { project: 'diffusion-pipe', code: "type = 'stableadamw'" },
    ],
  },
  {
    label: 'AdamW8bitKahan',
    className: 'AdamW8bitKahan',
    create: (params, options) => new AdamW8bitKahan(params, options),
    paramDtype: 'bf16',
    equivalents: [{ project: 'diffusion-pipe', code: "type = 'AdamW8bitKahan'" }],
  },
];
