/**
 * The stateful front of the Adam family, as torch.optim is a stateful front over a functional core:
 * this class validates hyperparameters, owns param groups, creates state lazily, and hands flat task
 * lists to a backend. The update rule itself is src/rules/adam.ts; the presets (AdamW, Adam, …) are
 * this class with other defaults.
 * @module
 */
import type { AdamTask, Backend } from '../backends/backend.js';
import { WasmBackend } from '../backends/cpu/wasm-backend.js';
import { JsBackend } from '../backends/js.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import type {
  GroupOptions, OptimizerOptions, Param, ParamGroup, ParamGroupStateDict, ParamStateDict, StateDict,
} from '../types.js';
import { describeParam, fail, showValue } from '../util/errors.js';
import { validateGrad, validateGroupOptions, validateParam } from './validate.js';

/** A param group with every hyperparameter filled in (the optimizer's defaults where the group set none). */
export interface ResolvedParamGroup extends Required<GroupOptions> {
  params: Param[];
}

/** State kept per param: the step count and the moment buffers. */
export interface ParamState {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  maxExpAvgSq: Float32Array | null;
}

/** What distinguishes one preset from another. */
export interface AdamVariant {
  /** The class name used in error messages. */
  name: string;
  /** `'decoupled'` for AdamW, `'l2'` for Adam. */
  weightDecayMode: AdamHyperparameters['weightDecayMode'];
  /** Group defaults of this preset. */
  defaults: Required<GroupOptions>;
}

/** PyTorch's defaults (torch.optim.AdamW; Adam differs only in weightDecay = 0). */
export const TORCH_ADAMW_DEFAULTS: Required<GroupOptions> = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
  amsgrad: false,
  maximize: false,
};

const GROUP_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize'] as const;

function createBackend(owner: string, options: OptimizerOptions): Backend {
  const backend = options.backend ?? 'cpu';
  if (backend === 'cpu') return new WasmBackend({ threads: options.threads });
  if (backend === 'js') return new JsBackend();
  return fail(TypeError, owner, 'options', `backend = ${showValue(backend)} is not supported`, "backend must be 'cpu' or 'js'");
}

/**
 * The Adam family's optimizer. Use a preset ({@link AdamW}, {@link Adam}); this class holds what they share.
 */
export class AdamOptimizer {
  /** The param groups, with every hyperparameter resolved. Changing `lr` here takes effect at the next step. */
  readonly paramGroups: ResolvedParamGroup[] = [];
  /** The group defaults after the constructor's options were applied. */
  readonly defaults: Required<GroupOptions>;
  /** Where the kernels run, e.g. `'cpu (WebAssembly SIMD, up to 2 threads)'`. */
  get backendDescription(): string {
    return this.backend.description;
  }

  protected readonly variant: AdamVariant;
  protected readonly backend: Backend;
  private readonly state = new Map<Param, ParamState>();
  private stepInFlight = false;
  private destroyed = false;

  constructor(variant: AdamVariant, params: Param[] | ParamGroup[], options: OptimizerOptions = {}) {
    this.variant = variant;
    const owner = variant.name;
    if (typeof options !== 'object' || options === null) {
      fail(TypeError, owner, 'options', `${showValue(options)} is not an options object`, 'pass an object such as { lr: 1e-3 }');
    }
    validateGroupOptions(owner, 'options', options);
    const defaults = { ...variant.defaults };
    for (const key of GROUP_KEYS) {
      if (options[key] !== undefined) (defaults as Record<string, unknown>)[key] = options[key];
    }
    if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
      fail(RangeError, owner, 'options', `threads = ${showValue(options.threads)} is invalid`, 'threads must be an integer >= 1');
    }
    this.defaults = defaults;
    if (!Array.isArray(params) || params.length === 0) {
      fail(TypeError, owner, 'params', `got ${showValue(params)}`, 'pass a non-empty array of params or of param groups');
    }
    const groups: ParamGroup[] = isGroupList(params) ? params : [{ params }];
    // Validate everything before keeping anything, so a bad group leaves no half-built optimizer.
    const seen = new Map<Param, number>();
    let index = 0;
    groups.forEach((group, g) => this.checkGroup(group, g, seen, index, (n) => (index += n)));
    this.backend = createBackend(owner, options);
    for (const group of groups) this.paramGroups.push(this.resolve(group));
  }

  /** Add a param group, as torch's `add_param_group`; its params must not already be in the optimizer. */
  addParamGroup(group: ParamGroup): void {
    const seen = new Map<Param, number>();
    let index = 0;
    for (const existing of this.paramGroups) for (const p of existing.params) seen.set(p, index++);
    this.checkGroup(group, this.paramGroups.length, seen, index, () => undefined);
    this.paramGroups.push(this.resolve(group));
  }

  /**
   * Update every param that has a grad, in place. Resolves when the update is done. All params are
   * checked first: a bad grad throws and nothing is updated.
   */
  async step(): Promise<void> {
    const owner = this.variant.name;
    if (this.destroyed) fail(Error, owner, 'step()', 'the optimizer was destroyed', 'create a new optimizer');
    if (this.stepInFlight) {
      fail(Error, owner, 'step()', 'called while the previous step() is still running', 'await each step() before the next');
    }
    const work: Array<{ param: Param; group: ResolvedParamGroup }> = [];
    let index = 0;
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        validateParam(owner, index, param);
        validateGrad(owner, index, param);
        const state = this.state.get(param);
        if (state && state.expAvg.length !== param.data.length) {
          fail(RangeError, owner, describeParam(index, param.name),
            `data has length ${param.data.length} but its optimizer state has length ${state.expAvg.length}`,
            'a param must keep its length; add a new param instead');
        }
        if (param.grad) work.push({ param, group });
        index++;
      }
    }
    const tasks: AdamTask[] = work.map(({ param, group }) => {
      const state = this.stateFor(param, group.amsgrad);
      return {
        param: param.data,
        grad: param.grad!,
        expAvg: state.expAvg,
        expAvgSq: state.expAvgSq,
        maxExpAvgSq: group.amsgrad ? state.maxExpAvgSq : null,
        hp: this.hyperparameters(group),
        step: state.step + 1,
      };
    });
    this.stepInFlight = true;
    try {
      await this.backend.adamStep(tasks);
    } finally {
      this.stepInFlight = false;
    }
    for (const { param } of work) this.state.get(param)!.step++;
  }

  /**
   * Clear every grad. By default the grad buffers are kept and filled with zeros, so a training loop can
   * accumulate into them (and params from `createParam` keep their fast in-place path); with
   * `{ setToNone: true }` they are set to null, as PyTorch's default does.
   */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        if (options.setToNone) param.grad = null;
        else param.grad?.fill(0);
      }
    }
  }

  /** A copy of the state in PyTorch's layout: per flat param index, `step`, `exp_avg`, `exp_avg_sq`[, `max_exp_avg_sq`]. */
  stateDict(): StateDict {
    const state: Record<number, ParamStateDict> = {};
    const paramGroups: ParamGroupStateDict[] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const indices: number[] = [];
      for (const param of group.params) {
        const s = this.state.get(param);
        if (s) {
          state[index] = { step: s.step, exp_avg: s.expAvg.slice(), exp_avg_sq: s.expAvgSq.slice() };
          if (s.maxExpAvgSq) state[index]!.max_exp_avg_sq = s.maxExpAvgSq.slice();
        }
        indices.push(index++);
      }
      const { params: _params, betas, ...hyper } = group;
      paramGroups.push({ ...hyper, betas: [betas[0], betas[1]], params: indices });
    }
    return { state, paramGroups };
  }

  /**
   * Replace the state and the groups' hyperparameters with those of `stateDict`. Everything is checked
   * against this optimizer's params first; on any mismatch it throws and changes nothing.
   */
  loadStateDict(stateDict: StateDict): void {
    const owner = this.variant.name;
    const where = 'loadStateDict';
    if (typeof stateDict !== 'object' || stateDict === null || !Array.isArray(stateDict.paramGroups)) {
      fail(TypeError, owner, where, `got ${showValue(stateDict)}`, 'pass an object { state, paramGroups } from stateDict()');
    }
    const { paramGroups } = stateDict;
    const savedState = stateDict.state ?? {};
    if (paramGroups.length !== this.paramGroups.length) {
      fail(RangeError, owner, where, `the state dict has ${paramGroups.length} param groups but the optimizer has ${this.paramGroups.length}`,
        'the optimizer must be built with the same groups as the one saved');
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    paramGroups.forEach((saved, g) => {
      const ours = this.paramGroups[g]!;
      if (!Array.isArray(saved.params) || saved.params.length !== ours.params.length) {
        fail(RangeError, owner, `${where}: param group ${g}`,
          `the state dict lists ${Array.isArray(saved.params) ? saved.params.length : showValue(saved.params)} params but the group has ${ours.params.length}`,
          'each group must hold the same number of params as when saved');
      }
      validateGroupOptions(owner, `${where}: param group ${g}`, saved);
    });
    const loaded = new Map<Param, ParamState>();
    const amsgradOf = (i: number): boolean => {
      let seen = 0;
      for (let g = 0; g < paramGroups.length; g++) {
        seen += paramGroups[g]!.params.length;
        if (i < seen) return paramGroups[g]!.amsgrad;
      }
      return false;
    };
    for (const [key, entry] of Object.entries(savedState)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) {
        fail(RangeError, owner, `${where}: state key ${showValue(key)}`, 'does not name a param', `keys must be flat param indices 0..${params.length - 1}`);
      }
      const param = params[i]!;
      const at = `${where}: ${describeParam(i, param.name)}`;
      if (!(Number.isInteger(entry.step) && entry.step >= 0)) {
        fail(RangeError, owner, at, `step = ${showValue(entry.step)} is invalid`, 'step must be an integer >= 0');
      }
      const buffers: Array<[string, unknown]> = [['exp_avg', entry.exp_avg], ['exp_avg_sq', entry.exp_avg_sq]];
      if (entry.max_exp_avg_sq !== undefined) buffers.push(['max_exp_avg_sq', entry.max_exp_avg_sq]);
      else if (amsgradOf(i)) fail(RangeError, owner, at, 'max_exp_avg_sq is missing', 'a group with amsgrad needs max_exp_avg_sq');
      for (const [name, buffer] of buffers) {
        const length = ArrayBuffer.isView(buffer) || Array.isArray(buffer) ? (buffer as ArrayLike<number>).length : -1;
        if (length !== param.data.length) {
          fail(RangeError, owner, at, `${name} is ${showValue(buffer)}`, `it must be a Float32Array or array of length ${param.data.length}, the param's length`);
        }
      }
      loaded.set(param, {
        step: entry.step,
        expAvg: Float32Array.from(entry.exp_avg),
        expAvgSq: Float32Array.from(entry.exp_avg_sq),
        maxExpAvgSq: entry.max_exp_avg_sq ? Float32Array.from(entry.max_exp_avg_sq) : null,
      });
    }
    // Everything checked: now replace.
    for (const s of this.state.values()) this.releaseState(s);
    this.state.clear();
    for (const [param, s] of loaded) {
      const state = this.allocateState(param, s.maxExpAvgSq !== null);
      state.step = s.step;
      state.expAvg.set(s.expAvg);
      state.expAvgSq.set(s.expAvgSq);
      if (s.maxExpAvgSq) state.maxExpAvgSq!.set(s.maxExpAvgSq);
      this.state.set(param, state);
    }
    paramGroups.forEach((saved, g) => {
      const group = this.paramGroups[g]!;
      for (const key of GROUP_KEYS) {
        if (saved[key] !== undefined) (group as unknown as Record<string, unknown>)[key] = key === 'betas' ? [saved.betas[0], saved.betas[1]] : saved[key];
      }
    });
  }

  /** Exact bytes of optimizer state held now (moment buffers; state is created at a param's first step). */
  stateBytes(): number {
    let bytes = 0;
    for (const s of this.state.values()) {
      bytes += s.expAvg.byteLength + s.expAvgSq.byteLength + (s.maxExpAvgSq?.byteLength ?? 0);
    }
    return bytes;
  }

  /** Release the state buffers. The optimizer cannot step afterwards. */
  destroy(): void {
    for (const s of this.state.values()) this.releaseState(s);
    this.state.clear();
    this.destroyed = true;
  }

  private hyperparameters(group: ResolvedParamGroup): AdamHyperparameters {
    return {
      lr: group.lr,
      beta1: group.betas[0],
      beta2: group.betas[1],
      eps: group.eps,
      weightDecay: group.weightDecay,
      amsgrad: group.amsgrad,
      maximize: group.maximize,
      weightDecayMode: this.variant.weightDecayMode,
    };
  }

  private stateFor(param: Param, amsgrad: boolean): ParamState {
    let state = this.state.get(param);
    if (!state) {
      state = this.allocateState(param, amsgrad);
      this.state.set(param, state);
    } else if (amsgrad && !state.maxExpAvgSq) {
      // amsgrad switched on after some steps: v_max starts from zero, as torch's lazily created buffer does.
      state.maxExpAvgSq = this.backend.allocate(param.data.length, param.data);
    }
    return state;
  }

  private allocateState(param: Param, amsgrad: boolean): ParamState {
    const n = param.data.length;
    return {
      step: 0,
      expAvg: this.backend.allocate(n, param.data),
      expAvgSq: this.backend.allocate(n, param.data),
      maxExpAvgSq: amsgrad ? this.backend.allocate(n, param.data) : null,
    };
  }

  private releaseState(state: ParamState): void {
    this.backend.release(state.expAvg);
    this.backend.release(state.expAvgSq);
    if (state.maxExpAvgSq) this.backend.release(state.maxExpAvgSq);
  }

  private checkGroup(group: ParamGroup, g: number, seen: Map<Param, number>, firstIndex: number, advance: (n: number) => void): void {
    const owner = this.variant.name;
    if (typeof group !== 'object' || group === null || !Array.isArray(group.params) || group.params.length === 0) {
      fail(TypeError, owner, `param group ${g}`, `got ${showValue(group)}`, 'a group is { params: Param[] (non-empty), lr?, betas?, … }');
    }
    validateGroupOptions(owner, `param group ${g}`, group);
    group.params.forEach((param, k) => {
      const index = firstIndex + k;
      validateParam(owner, index, param);
      const earlier = seen.get(param);
      if (earlier !== undefined) {
        fail(Error, owner, describeParam(index, param.name), `is the same param as param ${earlier}`, 'each param may appear only once across all groups');
      }
      seen.set(param, index);
    });
    advance(group.params.length);
  }

  private resolve(group: ParamGroup): ResolvedParamGroup {
    const d = this.defaults;
    return {
      params: [...group.params],
      lr: group.lr ?? d.lr,
      betas: [...(group.betas ?? d.betas)] as [number, number],
      eps: group.eps ?? d.eps,
      weightDecay: group.weightDecay ?? d.weightDecay,
      amsgrad: group.amsgrad ?? d.amsgrad,
      maximize: group.maximize ?? d.maximize,
    };
  }
}

function isGroupList(params: Param[] | ParamGroup[]): params is ParamGroup[] {
  const first = params[0] as unknown;
  return typeof first === 'object' && first !== null && 'params' in first;
}
