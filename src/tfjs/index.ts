/**
 * adamw-lab's optimizers as TensorFlow.js optimizers: `import { AdamW } from 'adamw-lab/tfjs'`, then
 * `model.compile({ optimizer: new AdamW({ lr: 1e-3 }) })`. Each class is a `tf.Optimizer` whose
 * `applyGradients` runs the core library's WebAssembly kernel synchronously on tfjs's cpu and wasm
 * backends, so the update is done before tfjs goes on to the next forward pass, and gives the same
 * bits as the core optimizer. On tfjs's webgpu backend it runs the core's WGSL kernels on tfjs's own
 * device and the variables' GPU buffers, submitted before it returns (./webgpu.ts).
 *
 * Params and state live in adamw-lab's memory between steps, beside each other (one arena), so a
 * step reads each gradient once, runs the fused kernel in place, and writes each variable once.
 * `@tensorflow/tfjs-core` is an optional peer dependency; the main `adamw-lab` entry never loads it.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { AdamW } from 'adamw-lab/tfjs';
 * const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
 * opt.excludeFromWeightDecay({ varNames: ['bias'] });
 * model.compile({ optimizer: opt, loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 10 });
 * ```
 * @module adamw-lab/tfjs
 */
import * as tf from '@tensorflow/tfjs-core';
import { WasmBackend } from '../backends/cpu/wasm-backend.js';
import type { UpdateTask } from '../backends/backend.js';
import {
  Adam as CoreAdam, AdamW as CoreAdamW, AdamW8bit as CoreAdamW8bit, AdamW8bitKahan as CoreAdamW8bitKahan,
  StableAdamW as CoreStableAdamW, type AdamW8bitKahanOptions,
} from '../optim/presets.js';
import { groupHyperparameters, type AdamOptimizer } from '../optim/adam-optimizer.js';
import { planTensor, type StateBuffer, type TensorPlan, type VariantOptions } from '../core/variants.js';
import type { AdamHyperparameters } from '../rules/adam.js';
import { fromBf16, toBf16 } from '../rules/bf16.js';
import type { GroupOptions, OptimizerOptions, Param } from '../types.js';
import { fail, refuseUnknownKeys, showValue } from '../util/errors.js';
import { validateGroupOptions } from '../optim/validate.js';
import { TfjsWebGpuPath, tfjsWebGpuBackend, type GpuSlot, type GpuWork } from './webgpu.js';

/** tfjs's `{ name, tensor }` pair (its NamedTensor, which tfjs-core does not export by name). */
export interface NamedTensor {
  /** The variable's (or the optimizer weight's) name. */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}

/** Options of every tfjs optimizer here: the core options that make sense inside tfjs. */
export type TfjsAdamOptions = Pick<OptimizerOptions, 'lr' | 'betas' | 'eps' | 'weightDecay' | 'amsgrad' | 'maximize' | 'stateDtype' | 'kahan' | 'stable'>;

/** Options of {@link AdamW8bitKahan}: {@link TfjsAdamOptions} and diffusion-pipe's `stabilize`. */
export type TfjsAdamW8bitKahanOptions = TfjsAdamOptions & Pick<AdamW8bitKahanOptions, 'stabilize'>;

const TFJS_OPTION_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize', 'stateDtype', 'kahan', 'stable'] as const;
/** Core options that have no meaning here, and why (the hint of their error). */
const NOT_IN_TFJS: Record<string, string> = {
  backend: "the tfjs optimizers run where tfjs runs (the CPU kernel on tfjs's cpu and wasm backends, the WGSL kernels on its webgpu backend); drop backend",
  threads: 'tfjs calls applyGradients synchronously, so the step runs on the calling thread; drop threads',
  device: "on tfjs's webgpu backend the optimizers use tfjs's own GPUDevice; drop device",
  executionProviders: 'the tfjs optimizers do not run ONNX Runtime; drop executionProviders',
  paged: 'paged state reads its spill file asynchronously, which a synchronous applyGradients cannot wait for; use the core PagedAdamW',
};
/** The key under which getConfig stores the excluded names, hex-encoded: tfjs camel-cases strings with '_' on load. */
const EXCLUDE_KEY = 'excludeFromWeightDecayHex';

/** One variable's share of the optimizer: its param and grad in adamw-lab's memory, and its state beside them. */
interface VariableSlot {
  kind: 'cpu';
  /** fp32 values, or bf16 bits when the variant keeps bf16 params (Kahan). */
  data: Float32Array | Uint16Array;
  grad: Float32Array;
  plan: TensorPlan;
  buffers: Record<string, StateBuffer>;
  step: number;
  /** The tfjs tensor data our `data` last matched: when the variable's dataId moves, someone assigned it. */
  syncedDataId: object | null;
  shape: number[];
}

/** State read by setWeights, waiting for the variable it belongs to. */
interface SavedSlot {
  name: string;
  step: number;
  numel: number;
  values: Record<string, StateBuffer>;
}

const sharedBackend = { instance: undefined as WasmBackend | undefined };
function cpuKernels(): WasmBackend {
  return (sharedBackend.instance ??= new WasmBackend({ threads: 1 }));
}

/**
 * The tfjs optimizer shared by every class here. Use {@link AdamW}, {@link Adam}, {@link AdamW8bit},
 * {@link StableAdamW} or {@link AdamW8bitKahan}.
 */
export abstract class TfjsAdamOptimizer extends tf.Optimizer {
  /**
   * Every class is rebuilt from its options alone (tfjs calls `cls.fromConfig(cls, config)`, so this
   * one static serves each subclass); the state comes back through setWeights.
   */
  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    return new cls(optionsOf(config));
  }

  /** Learning rate η; changing it takes effect at the next step. */
  lr: number;
  /** The hyperparameters in force (the class's defaults, overridden by the options). */
  readonly defaults: Readonly<Required<GroupOptions>>;
  /** The variant options in force (8-bit state, Kahan, stable). */
  readonly variantOptions: Readonly<VariantOptions>;

  private readonly owner: string;
  private readonly options: Record<string, unknown>;
  private readonly weightDecayMode: AdamHyperparameters['weightDecayMode'];
  private readonly slots = new Map<tf.Variable, VariableSlot | GpuSlot>();
  /** The WebGPU store on tfjs's device, made when the optimizer first steps on tfjs's webgpu backend. */
  private gpu: TfjsWebGpuPath | null = null;
  private pending: SavedSlot[] = [];
  private excluded: string[] = [];
  private warnedBackend: string | null = null;
  private lastPath = 'none yet';
  private disposed = false;

  /** `Core` is the core preset, constructed once to validate the options with its own errors and resolve its defaults. */
  protected constructor(owner: string, Core: new (params: Param[], options: OptimizerOptions) => AdamOptimizer, weightDecayMode: AdamHyperparameters['weightDecayMode'], options: Record<string, unknown>, extraKeys: readonly string[] = []) {
    super();
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      fail(TypeError, owner, 'options', `${showValue(options)} is not an options object`, 'pass an object such as { lr: 1e-3 }');
    }
    const { [EXCLUDE_KEY]: excludedHex, ...given } = options;
    refuseUnknownKeys(owner, 'options', given, [...TFJS_OPTION_KEYS, ...extraKeys], NOT_IN_TFJS);
    // Kahan keeps bf16 weights (AdamW8bitKahan always; the others with kahan: true).
    const bf16Params = owner === 'AdamW8bitKahan' || given.kahan === true;
    // The core preset validates every option with its own errors and resolves the defaults.
    const probe = new Core([bf16Params ? { data: new Uint16Array(1), dtype: 'bf16', grad: null } : { data: new Float32Array(1), grad: null }],
      { ...given, backend: 'js' });
    this.defaults = { ...probe.defaults, betas: [...probe.defaults.betas] as [number, number] };
    this.variantOptions = { ...probe.variantOptions };
    probe.destroy();
    this.owner = owner;
    this.options = given;
    this.weightDecayMode = weightDecayMode;
    this.lr = this.defaults.lr;
    if (excludedHex !== undefined) this.excludeFromWeightDecay({ varNames: decodeNames(owner, excludedHex) });
  }

  /**
   * Keras AdamW's `exclude_from_weight_decay`: variables whose name contains any of `varNames`
   * (a substring match, e.g. `'bias'`) get no weight decay. Adds to earlier exclusions.
   */
  excludeFromWeightDecay(options: { varNames?: string[] }): void {
    const where = 'excludeFromWeightDecay';
    if (typeof options !== 'object' || options === null) {
      fail(TypeError, this.owner, where, `${showValue(options)} is not an options object`, "pass { varNames: ['bias', …] }");
    }
    refuseUnknownKeys(this.owner, where, options, ['varNames']);
    const { varNames } = options;
    if (!Array.isArray(varNames) || varNames.some((n) => typeof n !== 'string' || n.length === 0)) {
      fail(TypeError, this.owner, where, `varNames = ${showValue(varNames)} is invalid`, 'varNames must be an array of non-empty strings (substrings of variable names)');
    }
    for (const name of varNames) if (!this.excluded.includes(name)) this.excluded.push(name);
  }

  /** tfjs's name for the learning rate (its optimizers' `learningRate`): the same value as {@link lr}. */
  get learningRate(): number {
    return this.lr;
  }

  /** Set the learning rate (checked as the constructor checks `lr`); the same as setting {@link lr}. */
  set learningRate(value: number) {
    validateGroupOptions(this.owner, 'learningRate', { lr: value });
    this.lr = value;
  }

  /** The substrings excluded from weight decay. */
  get excludedFromWeightDecay(): readonly string[] {
    return [...this.excluded];
  }

  /**
   * How the last step ran: `'cpu kernel, in place'` on tfjs's cpu and wasm backends; on tfjs's webgpu
   * backend `'wgsl kernels on tfjs's device, in place'` (the variables' GPU buffers, state on the GPU);
   * on another tfjs backend that reads synchronously (webgl) the same CPU kernel with the gradients
   * read back to the host, and a warning.
   */
  get executionPath(): string {
    return this.lastPath;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const owner = this.owner;
    const where = 'applyGradients';
    const entries: Array<{ name: string; grad: tf.Tensor }> = Array.isArray(variableGradients)
      ? variableGradients.filter((e) => e.tensor != null).map((e) => ({ name: e.name, grad: e.tensor }))
      : Object.entries(variableGradients).filter(([, g]) => g != null).map(([name, grad]) => ({ name, grad }));
    // Check everything first, so that a bad gradient (or an lr set to a bad value) changes nothing.
    this.refuseIfDisposed(where);
    validateGroupOptions(owner, where, { lr: this.lr });
    const backendName = tf.getBackend();
    const onGpu = backendName === 'webgpu';
    if (onGpu && this.variantOptions.kahan) {
      fail(Error, owner, where, `tfjs backend 'webgpu' is not supported with Kahan summation (bf16 weights; kahan: true or AdamW8bitKahan)`,
        "the WGSL kernels keep such weights in bf16, and a tfjs variable is float32: adamw-lab has no kernel that steps bf16 weights into a float32 variable in place; use AdamW, Adam, AdamW8bit or StableAdamW on webgpu, or tf.setBackend('wasm') or 'cpu'");
    }
    const otherPath = [...this.slots.values()].find((slot) => (slot.kind === 'gpu') !== onGpu);
    if (otherPath) {
      fail(Error, owner, where, `this optimizer's state lives ${otherPath.kind === 'gpu' ? "on tfjs's webgpu device" : "in adamw-lab's CPU memory"}, and tfjs's backend is now '${backendName}'`,
        'step an optimizer on one kind of tfjs backend; to move, save it (getWeights) and load it (setWeights) into a new optimizer on the other backend');
    }
    const registered = tf.engine().registeredVariables;
    this.releaseDisposedVariables();
    const gradientsPerName = new Map<string, number>();
    for (const { name } of entries) gradientsPerName.set(name, (gradientsPerName.get(name) ?? 0) + 1);
    const work: Array<{ variable: tf.Variable; grad: tf.Tensor; saved?: SavedSlot }> = [];
    for (const { name, grad } of entries) {
      const variable = registered[name];
      if (!variable) fail(Error, owner, where, `no variable is named ${showValue(name)}`, 'pass gradients keyed by tf.Variable names, as minimize() does');
      const count = gradientsPerName.get(name)!;
      if (count > 1) fail(RangeError, owner, where, `variable ${showValue(name)} is given ${count} gradients`, 'give each variable one gradient per call (sum them first)');
      if (variable.dtype !== 'float32') fail(TypeError, owner, where, `variable ${showValue(name)} has dtype ${variable.dtype}`, 'only float32 variables are supported');
      if (!(grad instanceof tf.Tensor) || grad.dtype !== 'float32' || !tf.util.arraysEqual(grad.shape, variable.shape)) {
        fail(RangeError, owner, where, `the gradient of ${showValue(name)} is ${grad instanceof tf.Tensor ? `a ${grad.dtype} tensor of shape [${grad.shape.join(', ')}]` : showValue(grad)}`,
          `it must be a float32 tensor of the variable's shape [${variable.shape.join(', ')}]`);
      }
      work.push({ variable, grad });
    }
    // Variables met for the first time take the restored state that belongs to them, if any is waiting.
    const newcomers = work.filter(({ variable }) => !this.slots.has(variable));
    const claimed = matchSavedStates(newcomers.map(({ variable }) => variable.name), this.pending);
    newcomers.forEach((entry, k) => {
      const saved = claimed[k] === -1 ? undefined : this.pending[claimed[k]!]!;
      if (saved && saved.numel !== entry.variable.size) {
        fail(RangeError, owner, where, `variable ${showValue(entry.variable.name)} has ${entry.variable.size} elements but the state restored for it (saved as ${showValue(saved.name)}) has ${saved.numel}`,
          'restored state goes to the variable of the same name, else to variables in the order the saving optimizer met them; load it into the same model');
      }
      entry.saved = saved;
    });
    // tfjs backends whose tensors live in host memory, where the kernel reads and writes without a round trip.
    const onHost = backendName === 'cpu' || backendName === 'wasm';
    if (onGpu) {
      const backend = tfjsWebGpuBackend(owner, where);
      if (this.gpu && this.gpu.device !== backend.device) {
        // A webgpu backend registered again has a device of its own; state cannot move between devices.
        if (this.slots.size > 0) {
          fail(Error, owner, where, "tfjs's webgpu backend runs on another GPUDevice than the one this optimizer's state lives on",
            'GPU buffers belong to one device; save the state (getWeights) and load it (setWeights) into a new optimizer');
        }
        this.gpu.close();
        this.gpu = null;
      }
      const gpu = (this.gpu ??= new TfjsWebGpuPath(owner, backend, () => this.iterations_--));
      // Refusals first: no state is made or restored for a step that does not run.
      gpu.check(backend, work);
      this.pending = this.pending.filter((_, k) => !claimed.includes(k));
      const gpuWork: GpuWork[] = work.map(({ variable, grad, saved }) => ({ variable, grad, slot: this.gpuSlotFor(gpu, variable, saved), hp: this.hyperparameters(variable.name) }));
      gpu.step(backend, gpuWork);
      this.lastPath = "wgsl kernels on tfjs's device, in place (tfjs backend 'webgpu')";
      this.incrementIterations();
      return;
    }
    if (!onHost && this.warnedBackend !== backendName) {
      this.warnedBackend = backendName;
      console.warn(`adamw-lab ${owner}: on tfjs backend '${backendName}' adamw-lab does not update the variables' device buffers, so the step runs adamw-lab's CPU kernel ` +
        'with the gradients read back to the host and the variables uploaded again (same numerics as the CPU path, slower). See the docs page "Use with TensorFlow.js".');
    }
    this.pending = this.pending.filter((_, k) => !claimed.includes(k));
    const tasks: UpdateTask[] = [];
    const touched: Array<{ variable: tf.Variable; slot: VariableSlot }> = [];
    for (const { variable, grad, saved } of work) {
      const slot = this.slotFor(variable, saved);
      slot.grad.set(readGradient(grad));
      slot.step++;
      tasks.push({ plan: slot.plan, param: slot.data, grad: slot.grad, buffers: slot.buffers, hp: this.hyperparameters(variable.name), step: slot.step });
      touched.push({ variable, slot });
    }
    cpuKernels().stepSync(tasks);
    for (const { variable, slot } of touched) writeVariable(variable, slot);
    this.lastPath = onHost ? `cpu kernel, in place (tfjs backend '${backendName}')` : `cpu kernel, host fallback (tfjs backend '${backendName}')`;
    this.incrementIterations();
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { ...(this.options as tf.serialization.ConfigDict), lr: this.lr, betas: [...this.defaults.betas], eps: this.defaults.eps,
      weightDecay: this.defaults.weightDecay, amsgrad: this.defaults.amsgrad, maximize: this.defaults.maximize };
    if (this.excluded.length > 0) config[EXCLUDE_KEY] = this.excluded.map(encodeName);
    return config;
  }

  /**
   * The whole state, in the order the optimizer met the variables: tfjs's `iter`, then per variable
   * `<name>/meta` (int32: step, elements) and each state buffer under its core name (`exp_avg`,
   * `state1`, `absmax1`, `shift`, …). fp32 buffers are float32 tensors; 8-bit codes and bf16 buffers
   * are packed little-endian into int32 tensors (tfjs has no uint8 or bf16 dtype).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.refuseIfDisposed('getWeights');
    this.releaseDisposedVariables();
    const out: NamedTensor[] = [await this.saveIterations()];
    const add = (name: string, step: number, numel: number, plan: TensorPlan, buffers: Record<string, StateBuffer>): void => {
      out.push({ name: `${name}/meta`, tensor: tf.tensor1d([step, numel], 'int32') });
      for (const spec of plan.buffers) out.push({ name: `${name}/${spec.name}`, tensor: packBuffer(buffers[spec.name]!) });
    };
    for (const [variable, slot] of this.slots) {
      // State on tfjs's webgpu device is read back here (getWeights is async), never during a step.
      add(variable.name, slot.step, variable.size, slot.plan, slot.kind === 'gpu' ? await this.gpu!.store.readAsync(slot.state) : slot.buffers);
    }
    for (const saved of this.pending) add(saved.name, saved.step, saved.numel, this.planFor(saved.numel, saved.name), saved.values);
    return out;
  }

  /**
   * Replace the state with what {@link getWeights} returned (model.save / tf.loadLayersModel call the
   * pair). Everything is checked first; a wrong count, name or shape throws and changes nothing. A
   * variable takes the state saved under its name (tfjs-layers' `_N` suffix aside), else the next one
   * left in the order saved, when this optimizer first meets it (see matchSavedStates).
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const owner = this.owner;
    const where = 'setWeights';
    this.refuseIfDisposed(where);
    this.releaseDisposedVariables();
    if (!Array.isArray(weightValues) || weightValues.length === 0 || weightValues[0]?.name !== 'iter') {
      fail(TypeError, owner, where, `got ${Array.isArray(weightValues) ? `a list starting with ${showValue(weightValues[0]?.name)}` : showValue(weightValues)}`,
        "pass the list from getWeights(): 'iter', then per variable '<name>/meta' and its state buffers");
    }
    const parsed: SavedSlot[] = [];
    let i = 1;
    while (i < weightValues.length) {
      const meta = weightValues[i]!;
      const name = meta.name.endsWith('/meta') ? meta.name.slice(0, -'/meta'.length) : null;
      if (name === null || meta.tensor.dtype !== 'int32' || meta.tensor.size !== 2) {
        fail(RangeError, owner, where, `weight ${i} is ${showValue(meta.name)} (${meta.tensor.dtype}, shape [${meta.tensor.shape.join(', ')}])`,
          "expected a '<name>/meta' int32 tensor of 2 elements (step, elements) here: the list is not from this optimizer class, or entries are missing");
      }
      const [step, numel] = Array.from(await meta.tensor.data() as Int32Array);
      if (!(Number.isInteger(step) && step! >= 0 && Number.isInteger(numel) && numel! >= 1)) {
        fail(RangeError, owner, where, `${showValue(meta.name)} holds step = ${step}, elements = ${numel}`, 'step must be >= 0 and elements >= 1');
      }
      const plan = this.planFor(numel!, name);
      const values: Record<string, StateBuffer> = {};
      i++;
      for (const spec of plan.buffers) {
        const entry = weightValues[i];
        const expectedShape = packedLength(spec.dtype, spec.length);
        const expectedDtype = spec.dtype === 'fp32' ? 'float32' : 'int32';
        if (!entry || entry.name !== `${name}/${spec.name}` || entry.tensor.dtype !== expectedDtype || entry.tensor.size !== expectedShape) {
          fail(RangeError, owner, where, entry ? `weight ${i} is ${showValue(entry.name)} (${entry.tensor.dtype}, ${entry.tensor.size} elements)` : `the list ends at weight ${i}`,
            `expected '${name}/${spec.name}', a ${expectedDtype} tensor of ${expectedShape} elements, for a variable of ${numel} elements`);
        }
        values[spec.name] = unpackBuffer(spec.dtype, spec.length, await entry.tensor.data());
        i++;
      }
      parsed.push({ name, step: step!, numel: numel!, values });
    }
    // The variables already met take their saved states (by name, else in order); check them before replacing anything.
    const known = [...this.slots.keys()];
    const claimed = matchSavedStates(known.map((v) => v.name), parsed);
    const keep = new Map<tf.Variable, SavedSlot>();
    known.forEach((variable, k) => {
      const index = claimed[k]!;
      if (index === -1) return;
      const saved = parsed[index]!;
      if (saved.numel !== variable.size) {
        fail(RangeError, owner, where, `variable ${showValue(variable.name)} has ${variable.size} elements but saved state ${index} (${showValue(saved.name)}) has ${saved.numel}`,
          'restored state goes to the variable of the same name, else to variables in the order the saving optimizer met them; load it into the same model');
      }
      keep.set(variable, saved);
    });
    this.iterations_ = (await weightValues[0].tensor.data() as Int32Array)[0]!;
    const onGpu = new Set([...this.slots].filter(([, slot]) => slot.kind === 'gpu').map(([variable]) => variable));
    for (const [variable, slot] of [...this.slots]) {
      this.releaseSlot(slot);
      this.slots.delete(variable);
    }
    this.pending = parsed.filter((_, k) => !claimed.includes(k));
    for (const [variable, saved] of keep) {
      if (onGpu.has(variable)) this.gpuSlotFor(this.gpu!, variable, saved);
      else this.slotFor(variable, saved);
    }
  }

  /** Free the params and state held in adamw-lab's memory; the optimizer refuses to step, save or load afterwards. */
  override dispose(): void {
    for (const slot of this.slots.values()) this.releaseSlot(slot);
    this.slots.clear();
    this.gpu?.close();
    this.gpu = null;
    this.pending = [];
    this.disposed = true;
    super.dispose();
  }

  private refuseIfDisposed(where: string): void {
    if (this.disposed) fail(Error, this.owner, where, 'this optimizer was disposed', 'create a new optimizer (dispose() freed its state)');
  }

  /**
   * Free the state of variables that were disposed since: a model rebuilt around this optimizer
   * then saves only its own variables' state, and restores it into the right variables.
   */
  private releaseDisposedVariables(): void {
    for (const [variable, slot] of [...this.slots]) {
      if (variable.isDisposed) {
        this.releaseSlot(slot);
        this.slots.delete(variable);
      }
    }
  }

  private releaseSlot(slot: VariableSlot | GpuSlot): void {
    if (slot.kind === 'gpu') this.gpu!.release(slot);
    else releaseSlot(slot);
  }

  /** A restored or fresh slot on tfjs's webgpu device for `variable` (its values stay in its buffer). */
  private gpuSlotFor(gpu: TfjsWebGpuPath, variable: tf.Variable, saved?: SavedSlot): GpuSlot {
    let slot = this.slots.get(variable) as GpuSlot | undefined;
    if (!slot) {
      slot = gpu.create(variable, this.planFor(variable.size, variable.name));
      this.slots.set(variable, slot);
    }
    if (saved) {
      gpu.store.write(slot.state, saved.values);
      slot.step = saved.step;
    }
    return slot;
  }

  /** A restored or fresh slot for `variable`, its values copied in from tfjs. */
  private slotFor(variable: tf.Variable, saved?: SavedSlot): VariableSlot {
    let slot = this.slots.get(variable) as VariableSlot | undefined;
    if (!slot) {
      const plan = this.planFor(variable.size, variable.name);
      const kernels = cpuKernels();
      // Param, grad and state in one arena: the kernel then runs in place, with no staging.
      const [data, grad] = kernels.allocateAll([{ dtype: plan.paramDtype, length: variable.size }, { dtype: 'fp32', length: variable.size }]) as [Float32Array | Uint16Array, Float32Array];
      const allocated = kernels.allocateAll(plan.buffers, data);
      const buffers: Record<string, StateBuffer> = {};
      plan.buffers.forEach((spec, k) => (buffers[spec.name] = allocated[k]!));
      slot = { kind: 'cpu', data, grad, plan, buffers, step: 0, syncedDataId: null, shape: [...variable.shape] };
      this.slots.set(variable, slot);
    }
    if (saved) {
      for (const spec of slot.plan.buffers) slot.buffers[spec.name]!.set(saved.values[spec.name]!);
      slot.step = saved.step;
    }
    if (slot.syncedDataId !== variable.dataId) {
      const values = variable.dataSync() as Float32Array;
      if (slot.data instanceof Uint16Array) slot.data.set(toBf16(values, { rounding: 'nearest' }));
      else slot.data.set(values);
      slot.syncedDataId = variable.dataId;
    }
    return slot;
  }

  private planFor(numel: number, name: string): TensorPlan {
    return planTensor(this.owner, `variable ${showValue(name)}`, this.variantOptions, this.variantOptions.kahan ? 'bf16' : 'fp32', numel, this.defaults.amsgrad);
  }

  private hyperparameters(variableName: string): AdamHyperparameters {
    const decays = !this.excluded.some((part) => variableName.includes(part));
    return groupHyperparameters({ ...this.defaults, lr: this.lr, weightDecay: decays ? this.defaults.weightDecay : 0 }, this.weightDecayMode);
  }
}

/** tfjs-layers makes a weight's name unique with a suffix: a model loaded where its original lives gets `dense_Dense1/kernel_1`. */
function withoutUniqueSuffix(name: string): string {
  return name.replace(/_[0-9]+$/, '');
}

/**
 * For each variable name, the index of its saved state in `saved` (-1: none left): first the state
 * saved under the same name (tfjs-layers' `_N` suffixes aside), then, for the rest, the remaining
 * states in the order saved. So a model saved with an optimizer it shared gets its own variables' state.
 */
function matchSavedStates(names: readonly string[], saved: readonly SavedSlot[]): number[] {
  const matched = names.map(() => -1);
  const taken = new Set<number>();
  // Three passes, each over the names still unmatched: the same name, the same name without `_N`, the order saved.
  const rules: Array<(s: SavedSlot, name: string) => boolean> = [
    (s, name) => s.name === name,
    (s, name) => withoutUniqueSuffix(s.name) === withoutUniqueSuffix(name),
    () => true,
  ];
  for (const rule of rules) {
    names.forEach((name, i) => {
      if (matched[i] !== -1) return;
      const k = saved.findIndex((s, j) => !taken.has(j) && rule(s, name));
      if (k !== -1) {
        matched[i] = k;
        taken.add(k);
      }
    });
  }
  return matched;
}

/** The part of tfjs-backend-wasm's backend used here: its heap views. */
interface WasmHeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): unknown;
}

/** A view of a wasm-backend tensor's float32 data in tfjs's heap, or undefined on other backends. */
function wasmHeapView(tensor: tf.Tensor): Float32Array | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const view = (tf.backend() as unknown as WasmHeapBackend).typedArrayFromHeap(tensor);
  return view instanceof Float32Array && view.length === tensor.size ? view : undefined;
}

/** The gradient's values: a heap view on wasm (no copy: the caller copies it once), else dataSync(). */
function readGradient(grad: tf.Tensor): Float32Array {
  return wasmHeapView(grad) ?? (grad.dataSync() as Float32Array);
}

/**
 * Write the slot's values into its variable: a new tensor, assigned. Never in place, even where tfjs
 * would let us (wasm): tfjs-backend-wasm caches operators with their packed weights per buffer
 * (XNNPACK's matMul), so a buffer changed in place would leave the next forward pass on the old values.
 */
function writeVariable(variable: tf.Variable, slot: VariableSlot): void {
  const values = slot.data instanceof Uint16Array ? fromBf16(slot.data) : slot.data;
  // wasm copies what it is given into its heap; the other backends may keep the array, so they get a copy.
  const fresh = tf.tensor(values === slot.data && tf.getBackend() !== 'wasm' ? values.slice() : values, slot.shape, 'float32');
  variable.assign(fresh);
  fresh.dispose(); // the variable holds its own reference to the data now
  slot.syncedDataId = variable.dataId;
}

function releaseSlot(slot: VariableSlot): void {
  const kernels = cpuKernels();
  kernels.release(slot.data);
  kernels.release(slot.grad);
  for (const buffer of Object.values(slot.buffers)) kernels.release(buffer);
}

/** int32 elements that hold `length` elements of `dtype` (fp32 stays float32, one per element). */
function packedLength(dtype: TensorPlan['buffers'][number]['dtype'], length: number): number {
  return dtype === 'fp32' ? length : Math.ceil((length * (dtype === 'bf16' ? 2 : 1)) / 4);
}

function packBuffer(buffer: StateBuffer): tf.Tensor {
  if (buffer instanceof Float32Array) return tf.tensor1d(buffer.slice(), 'float32');
  const bytes = new Uint8Array(Math.ceil(buffer.byteLength / 4) * 4);
  bytes.set(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  return tf.tensor1d(new Int32Array(bytes.buffer), 'int32');
}

function unpackBuffer(dtype: TensorPlan['buffers'][number]['dtype'], length: number, data: ArrayLike<number>): StateBuffer {
  if (dtype === 'fp32') return Float32Array.from(data);
  const bytes = new Uint8Array(Int32Array.from(data).buffer);
  return dtype === 'bf16' ? new Uint16Array(bytes.buffer, 0, length).slice() : bytes.slice(0, length);
}

function encodeName(name: string): string {
  return Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeNames(owner: string, hex: unknown): string[] {
  if (!Array.isArray(hex) || hex.some((h) => typeof h !== 'string' || !/^([0-9a-f]{2})+$/.test(h))) {
    fail(TypeError, owner, `options.${EXCLUDE_KEY}`, `${showValue(hex)} is invalid`, 'it holds hex-encoded UTF-8 names, as getConfig() writes them');
  }
  return (hex as string[]).map((h) => new TextDecoder().decode(Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16))));
}

/** tfjs passes `customObjects` in the config it deserializes; the rest are our options. */
function optionsOf(config: tf.serialization.ConfigDict): Record<string, unknown> {
  const { customObjects: _ignored, ...options } = config as Record<string, unknown>;
  void _ignored;
  return options;
}

/** `torch.optim.AdamW` as a tfjs optimizer; defaults lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01. */
export class AdamW extends TfjsAdamOptimizer {
  /** The name tfjs saves in a model's training config and looks up when it loads one. */
  static className = 'adamw-lab.AdamW';
  constructor(options: TfjsAdamOptions = {}) {
    super('AdamW', CoreAdamW, 'decoupled', options);
  }
}

/** `torch.optim.Adam` (L2 decay added to the gradient) as a tfjs optimizer; weightDecay 0 by default. */
export class Adam extends TfjsAdamOptimizer {
  /** The name tfjs saves in a model's training config and looks up when it loads one. */
  static className = 'adamw-lab.Adam';
  constructor(options: TfjsAdamOptions = {}) {
    super('Adam', CoreAdam, 'l2', options);
  }
}

/** bitsandbytes' AdamW8bit (8-bit blockwise moments; variables under 4096 elements keep fp32 state). */
export class AdamW8bit extends TfjsAdamOptimizer {
  /** The name tfjs saves in a model's training config and looks up when it loads one. */
  static className = 'adamw-lab.AdamW8bit';
  constructor(options: TfjsAdamOptions = {}) {
    super('AdamW8bit', CoreAdamW8bit, 'decoupled', options);
  }
}

/** optimi's StableAdamW (per-tensor update clipping); optimi's defaults betas [0.9, 0.99], eps 1e-6. */
export class StableAdamW extends TfjsAdamOptimizer {
  /** The name tfjs saves in a model's training config and looks up when it loads one. */
  static className = 'adamw-lab.StableAdamW';
  constructor(options: TfjsAdamOptions = {}) {
    super('StableAdamW', CoreStableAdamW, 'decoupled', options);
  }
}

/**
 * diffusion-pipe's AdamW8bitKahan: 8-bit moments and bf16 weights with a Kahan `shift` buffer. The
 * weights are kept in bf16 in adamw-lab's memory (the tfjs variable holds the same values as float32,
 * exactly); a variable's float32 values are rounded to bf16 (nearest) when the optimizer first meets it.
 */
export class AdamW8bitKahan extends TfjsAdamOptimizer {
  /** The name tfjs saves in a model's training config and looks up when it loads one. */
  static className = 'adamw-lab.AdamW8bitKahan';
  constructor(options: TfjsAdamW8bitKahanOptions = {}) {
    super('AdamW8bitKahan', CoreAdamW8bitKahan, 'decoupled', options, ['stabilize']);
  }
}

for (const cls of [AdamW, Adam, AdamW8bit, StableAdamW, AdamW8bitKahan]) tf.serialization.registerClass(cls);
