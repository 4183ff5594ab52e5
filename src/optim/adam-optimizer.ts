/**
 * The stateful front of the Adam family, as torch.optim is a stateful front over a functional core:
 * this class validates hyperparameters, owns param groups, creates state lazily, and hands flat task
 * lists to a backend. The update rules live in src/rules/; the variants are options resolved into a
 * per-param plan by ../core/variants.ts; the presets (AdamW, AdamW8bit, …) are this class with other defaults.
 * @module
 */
import type { Backend } from '../backends/backend.js';
import { BACKENDS } from '../backends/registry.js';
import { checkCheckpointPath, decodeCheckpointBytes, encodeCheckpoint, readCheckpoint, writeCheckpoint } from '../checkpoint/checkpoint.js';
import type { RegisteredKernel } from '../core/kernel-registry.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import type {
  AnyParam, GroupOptions, OptimizerOptions, ParamGroup, ParamGroupStateDict, ParamStateDict, StateDict,
} from '../types.js';
import { describeParam, fail, refuseUnknownKeys, showValue } from '../util/errors.js';
import {
  GROUP_KEYS, isGpuParam, paramDtype, paramLength, readParamOnce, validateGrad, validateGroupOptions, validateParam, type GpuParamPolicy,
} from './validate.js';
import { PagedStore, type PagingStats } from './paging.js';
import { ResidentStore, type StateStore, type StoredState } from './state-store.js';
import { kernelVariantOf, planBytes, planElements, planTensor, validateVariant, type TensorPlan, type VariantOptions } from '../core/variants.js';

/** A param group with every hyperparameter filled in (the optimizer's defaults where the group set none). */
export interface ResolvedParamGroup extends Required<GroupOptions> {
  /** The group's params, in the order given. */
  params: AnyParam[];
}

/** State kept per param: the step count and the state as the store holds it (its plan included). */
interface ParamState {
  step: number;
  stored: StoredState;
}

/** What distinguishes one preset from another. */
export interface AdamVariant {
  /** The class name used in error messages. */
  name: string;
  /** `'decoupled'` for AdamW, `'l2'` for Adam. */
  weightDecayMode: AdamHyperparameters['weightDecayMode'];
  /** Group defaults of this preset. */
  defaults: Required<GroupOptions>;
  /** Variant options of this preset (the caller's options override them). */
  variant?: VariantOptions;
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

/** The options a param group may set (and a checkpoint's param groups may hold, besides `params`). */
const VARIANT_KEYS = ['stateDtype', 'paged', 'kahan', 'stable'] as const;
/** Options that only one backend uses: set with another backend, they are refused rather than ignored. */
const BACKEND_OF_OPTION = { executionProviders: 'onnx', device: 'webgpu', threads: 'cpu' } as const;
const OPTIMIZER_KEYS = ['backend', 'executionProviders', 'device', 'threads'] as const;
const OPTION_KEYS: readonly string[] = [...GROUP_KEYS, ...VARIANT_KEYS, ...OPTIMIZER_KEYS];
// Every key of OptimizerOptions is listed above (a compile error otherwise), so none is refused as unknown.
type Unlisted = Exclude<keyof OptimizerOptions, (typeof GROUP_KEYS | typeof VARIANT_KEYS | typeof OPTIMIZER_KEYS)[number]>;
const everyOptionListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyOptionListed;
/** Options that one optimizer applies to every group, and so a group may not set. */
const NOT_PER_GROUP: Record<string, string> = Object.fromEntries([...VARIANT_KEYS, ...OPTIMIZER_KEYS].map((key) =>
  [key, `${key} applies to the whole optimizer; pass it in the constructor's options, not in a param group`]));

/** Typed-array type names of each dtype, for messages. */
const ARRAY_NAME = { fp32: 'Float32Array', bf16: 'Uint16Array (bf16 bits)', u8: 'Uint8Array' } as const;

/**
 * The Adam family's optimizer. Use a preset ({@link AdamW}, {@link Adam}, {@link AdamW8bit}, …); this
 * class holds what they share.
 *
 * **One call at a time.** While a `step()`, `save()`, `saveBytes()`, `load()`, `loadBytes()` or
 * `stateDictAsync()` is running (between the call and the settling of its promise), every other method
 * that reads or changes the state or the params refuses at once, before touching anything: synchronous
 * methods throw, asynchronous ones reject, with an error such as
 * `AdamW: save(): called while step() is still running; await step() before calling save()`.
 * Await each call before the next. The descriptive getters (`backendDescription`, `stateStorage`,
 * `pagingStats`) always answer.
 *
 * **After `destroy()`** every such method refuses, naming the class; a second `destroy()` does nothing.
 *
 * **Params are read once per step.** `step()` reads each param's `data` and `grad` once, validates
 * what it read and updates only that: replacing `p.grad` while a step runs does not change that step.
 */
export class AdamOptimizer {
  /** The param groups, with every hyperparameter resolved. Changing `lr` here takes effect at the next step. */
  readonly paramGroups: ResolvedParamGroup[] = [];
  /** The group defaults after the constructor's options were applied. */
  readonly defaults: Required<GroupOptions>;
  /** The variant options in force (the preset's, overridden by the caller's). */
  readonly variantOptions: Readonly<VariantOptions>;
  /** Where the kernels run, e.g. `'cpu (WebAssembly SIMD, up to 2 threads)'`. */
  get backendDescription(): string {
    return this.backend.description;
  }

  private readonly variant: AdamVariant;
  /** The backend as errors name it (the option, and ' (paged)' for paged state), and whether it takes GPUBuffer params. */
  private readonly backendPolicy: { name: string; gpuParams: GpuParamPolicy };
  /** The `backend` option: the registry's name of the backend, under which its kernels are registered. */
  private readonly backendOption: string;
  private readonly backend: Backend;
  private readonly store: StateStore;
  private readonly state = new Map<AnyParam, ParamState>();
  /** The call now running across an await (`'step()'`, `'save()'`, …), which every other call waits for. */
  private running: string | undefined;
  private destroyed = false;

  constructor(variant: AdamVariant, params: AnyParam[] | ParamGroup[], options: OptimizerOptions = {}) {
    this.variant = variant;
    const owner = variant.name;
    if (typeof options !== 'object' || options === null) {
      fail(TypeError, owner, 'options', `${showValue(options)} is not an options object`, 'pass an object such as { lr: 1e-3 }');
    }
    refuseUnknownKeys(owner, 'options', options, OPTION_KEYS);
    validateGroupOptions(owner, 'options', options);
    const defaults = { ...variant.defaults };
    for (const key of GROUP_KEYS) {
      if (options[key] !== undefined) (defaults as Record<string, unknown>)[key] = options[key];
    }
    const variantOptions: VariantOptions = { ...variant.variant };
    for (const key of VARIANT_KEYS) {
      if (options[key] !== undefined) (variantOptions as Record<string, unknown>)[key] = options[key];
    }
    if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
      fail(RangeError, owner, 'options', `threads = ${showValue(options.threads)} is invalid`, 'threads must be an integer >= 1');
    }
    const backend = options.backend ?? 'cpu';
    for (const [key, owning] of Object.entries(BACKEND_OF_OPTION)) {
      if (options[key as keyof typeof BACKEND_OF_OPTION] !== undefined && backend !== owning) {
        fail(Error, owner, 'options', `${key} is set with backend '${String(backend)}'`, `${key} belongs to backend '${owning}'; drop one of them`);
      }
    }
    // GPUBuffer params stay where they are on a backend whose state is device-resident; paged state
    // lives in host pages, so they are refused with it (validateParam).
    const onDevice = BACKENDS.traitsOf(backend)?.deviceResidentState ?? false;
    this.backendPolicy = {
      name: String(backend) + (variantOptions.paged ? ' (paged)' : ''),
      gpuParams: !onDevice ? 'refused' : variantOptions.paged ? 'paged' : 'accepted',
    };
    this.backendOption = String(backend);
    this.defaults = defaults;
    this.variantOptions = variantOptions;
    if (!Array.isArray(params) || params.length === 0) {
      fail(TypeError, owner, 'params', `got ${showValue(params)}`, 'pass a non-empty array of params or of param groups');
    }
    const groups: ParamGroup[] = isGroupList(params) ? params : [{ params }];
    // Validate everything before keeping anything, so a bad group leaves no half-built optimizer.
    const seen = new Map<AnyParam, number>();
    let index = 0;
    groups.forEach((group, g) => this.checkGroup(group, g, seen, index, (n) => (index += n)));
    const resolved = groups.map((group) => this.resolve(group));
    validateVariant(owner, variantOptions, variant.weightDecayMode, resolved.some((g) => g.amsgrad));
    const paged = variantOptions.paged;
    this.backend = BACKENDS.createBackend(owner, backend, {
      threads: options.threads, device: options.device as GPUDevice | undefined, executionProviders: options.executionProviders, paged: !!paged,
    });
    // Every param's kernel is looked up now, so an unregistered combination is refused before any step.
    index = 0;
    for (const group of resolved) for (const param of group.params) this.kernelOf(this.plan(param, index, group.amsgrad), describeParam(index++, param.name));
    // A backend whose state is device-resident keeps it in its own store; paged state is in host pages.
    this.store = paged ? new PagedStore(owner, this.backend, typeof paged === 'object' ? paged : {})
      : this.backend.residentStore?.() ?? new ResidentStore(this.backend);
    this.paramGroups.push(...resolved);
  }

  /** Where the state lives: `'resident'`, or the paged store's frames and spill file. */
  get stateStorage(): string {
    return this.store.description;
  }

  /** Resident-memory statistics of paged state, or undefined when the state is not paged. */
  get pagingStats(): Readonly<PagingStats> | undefined {
    return this.store instanceof PagedStore ? this.store.stats : undefined;
  }

  /** Add a param group, as torch's `add_param_group`; its params must not already be in the optimizer. */
  addParamGroup(group: ParamGroup): void {
    this.enter('addParamGroup()');
    const seen = new Map<AnyParam, number>();
    let index = 0;
    for (const existing of this.paramGroups) for (const p of existing.params) seen.set(p, index++);
    this.checkGroup(group, this.paramGroups.length, seen, index, () => undefined);
    const resolved = this.resolve(group);
    validateVariant(this.variant.name, this.variantOptions, this.variant.weightDecayMode, resolved.amsgrad);
    resolved.params.forEach((param, k) => this.kernelOf(this.plan(param, index + k, resolved.amsgrad), describeParam(index + k, param.name)));
    this.paramGroups.push(resolved);
  }

  /**
   * Update every param that has a grad, in place. Resolves when the update is done. All params are
   * checked first: a bad grad throws and nothing is updated.
   */
  async step(): Promise<void> {
    const owner = this.variant.name;
    this.enter('step()');
    // Each param's data and grad are read once (readParamOnce); only what was read and validated goes on.
    const work: Array<{ param: AnyParam; read: AnyParam; group: ResolvedParamGroup; index: number }> = [];
    let index = 0;
    for (const [g, group] of this.paramGroups.entries()) {
      // paramGroups is public (a scheduler sets lr there): check what the step will use.
      validateGroupOptions(owner, `param group ${g}`, group);
      for (const param of group.params) {
        const read = readParamOnce(param);
        validateParam(owner, index, read, this.backendPolicy);
        validateGrad(owner, index, read);
        const state = this.state.get(param);
        if (state && planElements(state.stored.plan) !== paramLength(read)) {
          fail(RangeError, owner, describeParam(index, read.name),
            `data has length ${paramLength(read)} but its optimizer state has length ${planElements(state.stored.plan)}`,
            'a param must keep its length; add a new param instead');
        }
        if (read.grad) work.push({ param, read, group, index });
        index++;
      }
    }
    await this.exclusive('step()', async () => {
      const storeWork = work.map(({ param, read, group, index: i }) => {
        const state = this.stateFor(param, read, i, group.amsgrad);
        return { state: state.stored, param: read, hp: this.hyperparameters(group), step: state.step + 1 };
      });
      await this.store.run(storeWork);
      for (const { param } of work) this.state.get(param)!.step++;
    });
  }

  /**
   * Clear every grad. By default the grad buffers are kept and filled with zeros, so a training loop can
   * accumulate into them (and params from `createParam` keep their fast in-place path); with
   * `{ setToNone: true }` they are set to null, as PyTorch's default does.
   */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    this.enter('zeroGrad()');
    if (typeof options !== 'object' || options === null) {
      fail(TypeError, this.variant.name, 'zeroGrad()', `options = ${showValue(options)} is not an options object`, 'pass { setToNone?: boolean } or nothing');
    }
    refuseUnknownKeys(this.variant.name, 'zeroGrad()', options, ['setToNone']);
    if (options.setToNone !== undefined && typeof options.setToNone !== 'boolean') {
      fail(TypeError, this.variant.name, 'zeroGrad()', `setToNone = ${showValue(options.setToNone)} is invalid`, 'setToNone must be true or false');
    }
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        if (options.setToNone) param.grad = null;
        else if (isGpuParam(param)) {
          // GpuParams reach only a backend with device-resident state (validateParam), which clears them.
          if (param.grad) this.backend.zeroGpuBuffer!(param.grad as GPUBuffer);
        } else param.grad?.fill(0);
      }
    }
  }

  /**
   * A copy of the state in PyTorch's layout: per flat param index, `step` and the param's buffers under
   * the names of the library its variant comes from (see {@link ParamStateDict}).
   */
  stateDict(): StateDict {
    this.enter('stateDict()');
    const state: Record<number, ParamStateDict> = {};
    this.forEachParam((param, index) => {
      const s = this.state.get(param);
      if (s) state[index] = { step: s.step, ...this.store.read(s.stored) };
    });
    return { state, paramGroups: this.groupStateDicts() };
  }

  /** {@link stateDict}, for every backend: with 'webgpu' it copies the state back from the GPU. */
  stateDictAsync(): Promise<StateDict> {
    return this.exclusive('stateDictAsync()', () => this.readStateDict());
  }

  /** {@link stateDictAsync} without the one-call-at-a-time check, for the calls that already hold it. */
  private async readStateDict(): Promise<StateDict> {
    const state: Record<number, ParamStateDict> = {};
    const reads: Array<Promise<void>> = [];
    this.forEachParam((param, index) => {
      const s = this.state.get(param);
      if (s) reads.push(this.store.readAsync(s.stored).then((buffers) => void (state[index] = { step: s.step, ...buffers } as ParamStateDict)));
    });
    await Promise.all(reads);
    return { state, paramGroups: this.groupStateDicts() };
  }

  /** Call `fn` for every param with its flat index (PyTorch's order: groups, then params). */
  private forEachParam(fn: (param: AnyParam, index: number) => void): void {
    let index = 0;
    for (const group of this.paramGroups) for (const param of group.params) fn(param, index++);
  }

  /** The groups' hyperparameters and flat param indices, as saved in a state dict. */
  private groupStateDicts(): ParamGroupStateDict[] {
    let index = 0;
    return this.paramGroups.map((group) => {
      const { params, betas, ...hyper } = group;
      return { ...hyper, betas: [betas[0], betas[1]], params: params.map(() => index++) };
    });
  }

  /**
   * Replace the state and the groups' hyperparameters with those of `stateDict`. Everything is checked
   * against this optimizer's params and variant first; on any mismatch it throws and changes nothing.
   */
  loadStateDict(stateDict: StateDict): void {
    this.enter('loadStateDict()');
    this.replaceState(stateDict, 'loadStateDict');
  }

  /** {@link loadStateDict} without the one-call-at-a-time check, for load() and loadBytes(), which hold it. */
  private replaceState(stateDict: StateDict, where: string): void {
    const owner = this.variant.name;
    if (typeof stateDict !== 'object' || stateDict === null || !Array.isArray(stateDict.paramGroups)) {
      fail(TypeError, owner, where, `got ${showValue(stateDict)}`, 'pass an object { state, paramGroups } from stateDict()');
    }
    const { paramGroups } = stateDict;
    const savedState: unknown = stateDict.state ?? {};
    if (typeof savedState !== 'object' || savedState === null) {
      fail(TypeError, owner, where, `state = ${showValue(savedState)} is invalid`, 'state must be an object { [flat param index]: { step, … } }, as stateDict() gives');
    }
    if (paramGroups.length !== this.paramGroups.length) {
      fail(RangeError, owner, where, `the state dict has ${paramGroups.length} param groups but the optimizer has ${this.paramGroups.length}`,
        'the optimizer must be built with the same groups as the one saved');
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    const amsgradOf: boolean[] = [];
    paramGroups.forEach((saved: unknown, g) => {
      if (typeof saved !== 'object' || saved === null) {
        fail(TypeError, owner, `${where}: param group ${g}`, `is ${showValue(saved)}`, 'each param group must be an object { params, lr, betas, … }, as stateDict() gives');
      }
    });
    paramGroups.forEach((saved, g) => {
      const ours = this.paramGroups[g]!;
      if (!Array.isArray(saved.params) || saved.params.length !== ours.params.length) {
        fail(RangeError, owner, `${where}: param group ${g}`,
          `the state dict lists ${Array.isArray(saved.params) ? saved.params.length : showValue(saved.params)} params but the group has ${ours.params.length}`,
          'each group must hold the same number of params as when saved');
      }
      validateGroupOptions(owner, `${where}: param group ${g}`, saved);
      for (let k = 0; k < ours.params.length; k++) amsgradOf.push(saved.amsgrad ?? ours.amsgrad);
    });
    validateVariant(owner, this.variantOptions, this.variant.weightDecayMode, amsgradOf.some(Boolean));
    const loaded = new Map<AnyParam, { step: number; plan: TensorPlan; kernel: RegisteredKernel; values: Record<string, ArrayLike<number>> }>();
    for (const [key, entry] of Object.entries(savedState as Record<string, ParamStateDict | null>)) {
      // Only canonical indices ('0', '17'): Number() would also take '', '0x1', ' 1', '1.0' and '01'.
      const i = /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : NaN;
      if (!Number.isSafeInteger(i) || i >= params.length) {
        fail(RangeError, owner, `${where}: state key ${showValue(key)}`, 'does not name a param', `keys must be flat param indices written as integers 0..${params.length - 1}`);
      }
      const param = params[i]!;
      const at = `${where}: ${describeParam(i, param.name)}`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        fail(TypeError, owner, at, `its state is ${showValue(entry)}`, 'each param\'s state must be an object { step, … }, as stateDict() gives');
      }
      if (!(Number.isSafeInteger(entry.step) && entry.step >= 0)) {
        fail(RangeError, owner, at, `step = ${showValue(entry.step)} is invalid`, 'step must be an integer >= 0');
      }
      const plan = planTensor(owner, at, this.variantOptions, paramDtype(param), paramLength(param), amsgradOf[i]!);
      const expected = plan.buffers.map((b) => b.name);
      const record = entry as unknown as Record<string, unknown>;
      for (const name of Object.keys(record)) {
        if (name !== 'step' && !expected.includes(name)) {
          fail(RangeError, owner, at, `the state dict holds '${name}', which this optimizer does not keep for this param`,
            `expected ${expected.join(', ')} (the state dict comes from another variant or option set)`);
        }
      }
      const values: Record<string, ArrayLike<number>> = {};
      for (const spec of plan.buffers) {
        const buffer = record[spec.name];
        if (buffer === undefined) {
          fail(RangeError, owner, at, `${spec.name} is missing`, spec.name === 'max_exp_avg_sq' ? 'a group with amsgrad needs max_exp_avg_sq' : `this param's state needs ${expected.join(', ')}`);
        }
        const integer = spec.dtype !== 'fp32';
        const typedOk = spec.dtype === 'fp32' ? buffer instanceof Float32Array : spec.dtype === 'bf16' ? buffer instanceof Uint16Array : buffer instanceof Uint8Array;
        const arrayOk = Array.isArray(buffer) && everyElement(buffer, integer ? (x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < (spec.dtype === 'u8' ? 256 : 65536) : (x) => typeof x === 'number');
        const length = typedOk || Array.isArray(buffer) ? (buffer as ArrayLike<number>).length : -1;
        if (!(typedOk || arrayOk) || length !== spec.length) {
          fail(RangeError, owner, at, `${spec.name} is ${showValue(buffer)}`,
            `it must be a ${ARRAY_NAME[spec.dtype]} or array of length ${spec.length}${integer ? ` (integers in [0, ${spec.dtype === 'u8' ? 255 : 65535}])` : ' (numbers)'}`);
        }
        values[spec.name] = buffer as ArrayLike<number>;
      }
      loaded.set(param, { step: entry.step, plan, kernel: this.kernelOf(plan, at), values });
    }
    // Everything checked: now replace.
    for (const s of this.state.values()) this.store.release(s.stored);
    this.state.clear();
    for (const [param, s] of loaded) {
      const stored = this.store.create(param, s.plan, s.kernel);
      this.store.write(stored, s.values);
      this.state.set(param, { step: s.step, stored });
    }
    paramGroups.forEach((saved, g) => {
      const group = this.paramGroups[g]!;
      for (const key of GROUP_KEYS) {
        if (saved[key] !== undefined) (group as unknown as Record<string, unknown>)[key] = key === 'betas' ? [saved.betas[0], saved.betas[1]] : saved[key];
      }
    });
  }

  /**
   * Write a checkpoint to `path` (Node): a safetensors file with PyTorch's tensor names, the
   * hyperparameters and a checksum. The write is atomic: a temporary file is renamed over `path`.
   */
  save(path: string): Promise<void> {
    return this.exclusive('save()', async () => {
      checkCheckpointPath(this.variant.name, 'save', path);
      await writeCheckpoint(this.variant.name, path, await this.encode());
    });
  }

  /**
   * Restore a checkpoint from `path` (Node). A truncated, altered or mismatched file throws a clear
   * error and leaves the optimizer unchanged.
   */
  load(path: string): Promise<void> {
    return this.exclusive('load()', async () => {
      this.replaceState(await readCheckpoint(this, this.variant.name, path), `load(${JSON.stringify(path)})`);
    });
  }

  /** The checkpoint as bytes (for browsers, or any storage), the same bytes {@link save} writes. */
  saveBytes(): Promise<Uint8Array> {
    return this.exclusive('saveBytes()', () => this.encode());
  }

  /** Restore a checkpoint from bytes; checked like {@link load}. */
  loadBytes(bytes: Uint8Array): Promise<void> {
    return this.exclusive('loadBytes()', async () => {
      this.replaceState(await decodeCheckpointBytes(this, this.variant.name, bytes), `loadBytes(${showValue(bytes)})`);
    });
  }

  /** The checkpoint's bytes; the caller holds the one-call-at-a-time check. */
  private async encode(): Promise<Uint8Array> {
    return encodeCheckpoint(await this.readStateDict(), this.variantOptions, this.variant.name);
  }

  /**
   * Refuse, before anything is touched, a call made after destroy() or while another call is running
   * (see the class's one-call-at-a-time rule).
   */
  private enter(method: string): void {
    const owner = this.variant.name;
    if (this.destroyed) fail(Error, owner, method, 'called after destroy()', 'the optimizer released its state; create a new optimizer');
    if (this.running !== undefined) {
      fail(Error, owner, method, `called while ${this.running} is still running`, `await ${this.running} before calling ${method} (one call at a time)`);
    }
  }

  /** Run `body` as the one call in progress: every other call is refused until it settles. */
  private async exclusive<T>(method: string, body: () => Promise<T>): Promise<T> {
    this.enter(method);
    this.running = method;
    try {
      return await body();
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Exact bytes of optimizer state held now, wherever it lives (state is created at a param's first
   * step). For paged state, {@link pagingStats} tells how much of it is resident.
   */
  stateBytes(): number {
    this.enter('stateBytes()');
    let bytes = 0;
    for (const s of this.state.values()) bytes += planBytes(s.stored.plan);
    return bytes;
  }

  /**
   * Release the state (and a paged store's spill file). Every later call refuses, except destroy(),
   * which does nothing. Refused while another call is running: await it first.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.enter('destroy()');
    for (const s of this.state.values()) this.store.release(s.stored);
    this.state.clear();
    this.store.close();
    void this.backend.dispose?.();
    this.destroyed = true;
  }

  private hyperparameters(group: ResolvedParamGroup): AdamHyperparameters {
    return groupHyperparameters(group, this.variant.weightDecayMode);
  }

  private plan(param: AnyParam, index: number, amsgrad: boolean): TensorPlan {
    const where = describeParam(index, param.name);
    return planTensor(this.variant.name, where, this.variantOptions, paramDtype(param), paramLength(param), amsgrad);
  }

  /**
   * The registry's kernel for `plan` on this optimizer's backend, looked up once per param (when its
   * plan is made or changes), never per step; an unregistered combination throws naming what is registered.
   */
  private kernelOf(plan: TensorPlan, where: string): RegisteredKernel {
    return BACKENDS.kernel(this.variant.name, where, this.backendOption, kernelVariantOf(plan));
  }

  /** `param`'s state (created on its first step), keyed by the caller's param, sized by what step() `read`. */
  private stateFor(param: AnyParam, read: AnyParam, index: number, amsgrad: boolean): ParamState {
    let state = this.state.get(param);
    const plan = this.plan(read, index, amsgrad);
    if (!state) {
      state = { step: 0, stored: this.store.create(read, plan, this.kernelOf(plan, describeParam(index, read.name))) };
      this.state.set(param, state);
    } else if (plan.buffers.length > state.stored.plan.buffers.length) {
      // amsgrad switched on after some steps: v_max starts from zero, as torch's lazily created buffer does.
      const values: Record<string, ArrayLike<number>> = { ...this.store.read(state.stored) };
      for (const spec of plan.buffers) values[spec.name] ??= new Float32Array(spec.length);
      const stored = this.store.create(read, plan, this.kernelOf(plan, describeParam(index, read.name)));
      this.store.write(stored, values);
      this.store.release(state.stored);
      state.stored = stored;
    }
    return state;
  }

  private checkGroup(group: ParamGroup, g: number, seen: Map<AnyParam, number>, firstIndex: number, advance: (n: number) => void): void {
    const owner = this.variant.name;
    if (typeof group !== 'object' || group === null || !Array.isArray(group.params) || group.params.length === 0) {
      fail(TypeError, owner, `param group ${g}`, `got ${showValue(group)}`, 'a group is { params: Param[] (non-empty), lr?, betas?, … }');
    }
    refuseUnknownKeys(owner, `param group ${g}`, group, ['params', ...GROUP_KEYS], NOT_PER_GROUP);
    validateGroupOptions(owner, `param group ${g}`, group);
    group.params.forEach((param, k) => {
      const index = firstIndex + k;
      validateParam(owner, index, param, this.backendPolicy);
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

/**
 * The per-step hyperparameters of a group: its options in the shape the update rules and kernels
 * take (the one mapping the core optimizer and adamw-lab/tfjs share).
 */
export function groupHyperparameters(group: Required<GroupOptions>, weightDecayMode: AdamHyperparameters['weightDecayMode']): AdamHyperparameters {
  return {
    lr: group.lr,
    beta1: group.betas[0],
    beta2: group.betas[1],
    eps: group.eps,
    weightDecay: group.weightDecay,
    amsgrad: group.amsgrad,
    maximize: group.maximize,
    weightDecayMode,
  };
}

/** Whether every element of `array`, holes included (which `every` would skip), passes `ok`. */
function everyElement(array: readonly unknown[], ok: (x: unknown) => boolean): boolean {
  for (let i = 0; i < array.length; i++) if (!(i in array) || !ok(array[i])) return false;
  return true;
}

function isGroupList(params: AnyParam[] | ParamGroup[]): params is ParamGroup[] {
  const first = params[0] as unknown;
  return typeof first === 'object' && first !== null && 'params' in first;
}
