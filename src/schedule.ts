/**
 * Learning-rate schedules, as multipliers of each group's base lr (PyTorch's `LambdaLR`). The shapes are
 * those of transformers / diffusers `get_*_schedule_with_warmup`, which sd-scripts and diffusion-pipe use.
 * @module
 */
import type { AdamOptimizer } from './optim/adam-optimizer.js';
import { fail, refuseUnknownKeys, showValue } from './util/errors.js';

/** Maps the scheduler's step count (0 before the first `scheduler.step()`) to a multiplier of the base lr. */
export type LrMultiplier = (step: number) => number;

function checkSteps(owner: string, values: { warmupSteps: number; totalSteps?: number }): void {
  for (const [name, value] of Object.entries(values)) {
    if (!(Number.isInteger(value) && value >= 0)) {
      fail(RangeError, owner, name, `${showValue(value)} is invalid`, `${name} must be an integer >= 0`);
    }
  }
  const { warmupSteps, totalSteps } = values;
  // Most often the two arguments swapped; the schedule would never leave its warmup.
  if (totalSteps !== undefined && warmupSteps > totalSteps) {
    fail(RangeError, owner, 'warmupSteps', `${warmupSteps} exceeds totalSteps = ${totalSteps}`, 'pass (warmupSteps, totalSteps), with warmupSteps <= totalSteps');
  }
}

/** The base lr at every step. */
export function constantSchedule(): LrMultiplier {
  return () => 1;
}

/** Linear warmup from 0 to the base lr over `warmupSteps`, then constant (`constant_with_warmup`). */
export function constantWithWarmupSchedule(warmupSteps: number): LrMultiplier {
  checkSteps('constantWithWarmupSchedule', { warmupSteps });
  return (step) => (step < warmupSteps ? step / Math.max(1, warmupSteps) : 1);
}

/** Linear warmup, then linear decay to 0 at `totalSteps` (`linear`). */
export function linearWithWarmupSchedule(warmupSteps: number, totalSteps: number): LrMultiplier {
  checkSteps('linearWithWarmupSchedule', { warmupSteps, totalSteps });
  return (step) => {
    if (step < warmupSteps) return step / Math.max(1, warmupSteps);
    return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  };
}

/**
 * Linear warmup, then a cosine from the base lr down to `minLrRatio` × base lr at `totalSteps`
 * (`cosine`; with `cycles` = 0.5, one half period):
 * $\text{mult} = r + (1-r)\cdot\tfrac12\bigl(1+\cos(2\pi\cdot\text{cycles}\cdot\text{progress})\bigr)$.
 */
export function cosineWithWarmupSchedule(
  warmupSteps: number,
  totalSteps: number,
  options: { cycles?: number; minLrRatio?: number } = {},
): LrMultiplier {
  checkSteps('cosineWithWarmupSchedule', { warmupSteps, totalSteps });
  if (typeof options !== 'object' || options === null) {
    fail(TypeError, 'cosineWithWarmupSchedule', 'options', `${showValue(options)} is not an options object`, 'pass { cycles?, minLrRatio? } or nothing');
  }
  refuseUnknownKeys('cosineWithWarmupSchedule', 'options', options, ['cycles', 'minLrRatio'], { num_cycles: "transformers' num_cycles is 'cycles' here" });
  const cycles = options.cycles ?? 0.5;
  if (!(typeof cycles === 'number' && Number.isFinite(cycles) && cycles > 0)) {
    fail(RangeError, 'cosineWithWarmupSchedule', 'cycles', `${showValue(cycles)} is invalid`, 'cycles must be a finite number > 0 (0.5: one half period)');
  }
  const minLrRatio = options.minLrRatio ?? 0;
  if (!(typeof minLrRatio === 'number' && minLrRatio >= 0 && minLrRatio <= 1)) {
    fail(RangeError, 'cosineWithWarmupSchedule', 'minLrRatio', `${showValue(minLrRatio)} is invalid`, 'minLrRatio must be in [0, 1]');
  }
  return (step) => {
    if (step < warmupSteps) return step / Math.max(1, warmupSteps);
    const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    const cosine = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
    return minLrRatio + (1 - minLrRatio) * cosine;
  };
}

/**
 * Sets every group's lr to base lr × multiplier(step). Construct it after the optimizer (it records the
 * base lrs and applies step 0), then call `scheduler.step()` after each `optimizer.step()`.
 */
export class LRScheduler {
  /** Scheduler steps taken so far. */
  stepCount = 0;
  private readonly baseLrs: number[];

  constructor(private readonly optimizer: AdamOptimizer, private readonly multiplier: LrMultiplier) {
    if (!Array.isArray((optimizer as Partial<AdamOptimizer> | null)?.paramGroups)) {
      fail(TypeError, 'LRScheduler', 'optimizer', `got ${showValue(optimizer)}`, 'pass an adamw-lab optimizer (AdamW, AdamW8bit, …)');
    }
    if (typeof multiplier !== 'function') {
      fail(TypeError, 'LRScheduler', 'multiplier', `got ${showValue(multiplier)}`, 'pass a schedule such as cosineWithWarmupSchedule(warmupSteps, totalSteps)');
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** Advance one step and set the new learning rates. */
  step(): void {
    this.stepCount++;
    this.apply();
  }

  /** The learning rates now in force, one per param group. */
  get lastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  private apply(): void {
    const m: unknown = this.multiplier(this.stepCount);
    // Checked before any group changes: a NaN lr would reach the params at the next step.
    if (!(typeof m === 'number' && Number.isFinite(m) && m >= 0)) {
      fail(RangeError, 'LRScheduler', 'multiplier', `returned ${showValue(m)} at step ${this.stepCount}`, 'the schedule must return a finite number >= 0');
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.baseLrs[i]! * m;
    });
  }
}
