/**
 * Public types: parameters, parameter groups, options and the state dict.
 * @module
 */

/** A trainable tensor: its values and, after the backward pass, its gradient (same length). */
export interface Param {
  /** The values, updated in place by `step()`. */
  data: Float32Array;
  /** The gradient; a param whose grad is null or missing is skipped by `step()`, as in PyTorch. */
  grad?: Float32Array | null;
  /** A name used in error messages, e.g. `'encoder.0.weight'`. */
  name?: string;
}

/** Hyperparameters that a param group may set; unset ones take the optimizer's. */
export interface GroupOptions {
  /** Learning rate η (default 1e-3). */
  lr?: number;
  /** (β1, β2) (default [0.9, 0.999]). */
  betas?: [number, number];
  /** ε, added outside the square root (default 1e-8). */
  eps?: number;
  /** Weight decay λ (AdamW default 0.01, Adam 0). */
  weightDecay?: number;
  /** Use the running maximum of v (default false). */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize?: boolean;
}

/** A group of params sharing hyperparameters, as in PyTorch's `param_groups`. */
export interface ParamGroup extends GroupOptions {
  params: Param[];
}

/** Which implementation runs the update. */
export type BackendName = 'cpu' | 'js';

/** Options of the optimizer: group defaults plus optimizer-wide choices. */
export interface OptimizerOptions extends GroupOptions {
  /**
   * `'cpu'` (default): the fused WebAssembly SIMD kernel, on worker threads in Node when a step
   * is large enough to pay for them. `'js'`: the readable TypeScript loop of `src/rules/adam.ts`.
   */
  backend?: BackendName;
  /**
   * CPU backend only: threads to use, the calling thread included (default: every hardware thread).
   * Worker threads run only when params live in an adamw-lab arena (see `createParam`) and the step
   * is large enough to pay for them.
   */
  threads?: number;
}

/** Saved state of one param, with PyTorch's names. */
export interface ParamStateDict {
  step: number;
  exp_avg: Float32Array;
  exp_avg_sq: Float32Array;
  max_exp_avg_sq?: Float32Array;
}

/** Saved hyperparameters of one group; `params` holds flat param indices. */
export interface ParamGroupStateDict extends Required<GroupOptions> {
  params: number[];
}

/** The optimizer's state, laid out as PyTorch's `optimizer.state_dict()`. Arrays are copies. */
export interface StateDict {
  state: Record<number, ParamStateDict>;
  paramGroups: ParamGroupStateDict[];
}
