/**
 * The kernel registry (src/core/kernel-registry.ts, filled by src/backends/registry.ts) and the
 * kernel declarations (src/core/kernel-declarations.ts): registering twice throws, an unregistered
 * variant is refused naming what is registered (and changes nothing), the optimizer looks each
 * param's kernel up once rather than per step, device-resident state is a property of the backend,
 * and every declaration agrees with the rules' step scalars, the state layout and the ONNX graphs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdamW, AdamW8bit, adam8bitStepScalars, adamStepScalars, type AdamOptimizer, type OptimizerOptions } from '../src/index.js';
import { debiasedStepScalars } from '../src/rules/debiased.js';
import { JsBackend } from '../src/backends/js.js';
import { BACKENDS } from '../src/backends/registry.js';
import { ONNX_GRAPHS } from '../src/backends/onnx/graphs.generated.js';
import { KernelRegistry } from '../src/core/kernel-registry.js';
import { declaredDtype, describeVariant, KERNEL_DECLARATIONS, type KernelVariant, type UpdateFamily } from '../src/core/kernel-declarations.js';
import { isPerBlock, planTensor, reachableKernelVariants } from '../src/core/variants.js';
import { seededNormal } from './helpers.js';

const ADAM: KernelVariant = { family: 'adam', paramDtype: 'fp32', momentDtype: 'fp32', kahan: false, stable: false, amsgrad: false };

describe('kernel registry', () => {
  it('registering a backend or a kernel variant twice throws, naming it', () => {
    const registry = new KernelRegistry<object, object>();
    registry.registerBackend('b', { deviceResidentState: false }, () => ({}));
    assert.throws(() => registry.registerBackend('b', { deviceResidentState: false }, () => ({})), /^Error: KernelRegistry: backend 'b' is already registered$/);
    registry.register('b', ADAM, {});
    assert.throws(() => registry.register('b', { ...ADAM }, {}), /^Error: KernelRegistry: b: adam \(paramDtype fp32, momentDtype fp32\) is already registered$/);
    assert.throws(() => registry.register('c', ADAM, {}), /register the backend 'c' before its kernels/);
    // The library's registry too: every backend already registered each of its variants.
    for (const name of BACKENDS.backendNames()) {
      assert.throws(() => BACKENDS.register(name, ADAM, {}), /is already registered/);
    }
    assert.equal(registry.registrations().length, 1);
  });

  it('every backend registers every variant that options reach: 4 backends × 17 variants', () => {
    assert.deepEqual(BACKENDS.backendNames(), ['cpu', 'js', 'webgpu', 'onnx']);
    const variants = reachableKernelVariants().map((e) => describeVariant(e.variant));
    assert.equal(variants.length, 17);
    for (const name of BACKENDS.backendNames()) {
      const registered = BACKENDS.registrations().filter((r) => r.backend === name).map((r) => describeVariant(r.variant));
      assert.deepEqual(registered, variants, name);
    }
  });

  it('an unknown backend is refused naming the registered ones', () => {
    assert.throws(() => new AdamW([{ data: new Float32Array(4), grad: null }], { backend: 'tpu' as OptimizerOptions['backend'] }),
      /^TypeError: AdamW: options: backend = "tpu" is not supported; backend must be 'cpu', 'js', 'webgpu' or 'onnx'/);
  });

  it('an unregistered variant is refused at construction, naming the class, the param, the backend and what it registers; nothing changes', () => {
    // A backend that registers only fp32 Adam (in this test process's registry only; the tests above see the library's).
    BACKENDS.registerBackend('adam-only', { deviceResidentState: false }, () => new JsBackend());
    BACKENDS.register('adam-only', ADAM, () => undefined);
    const data = Float32Array.from({ length: 5000 }, seededNormal(3));
    const param = { data: data.slice(), grad: new Float32Array(5000).fill(0.5), name: 'w' };
    const backend = 'adam-only' as OptimizerOptions['backend'];
    assert.throws(() => new AdamW8bit([param], { backend }), (e: Error) => {
      assert.equal(e.message, "AdamW8bit: param 0 ('w'): backend 'adam-only' has no kernel registered for blockwise8bit (paramDtype fp32, momentDtype fp32); " +
        "backend 'adam-only' registers adam (paramDtype fp32, momentDtype fp32); choose another backend or other options");
      return true;
    });
    assert.deepEqual(param.data, data);
    // The registered variant runs: the optimizer found the registered kernel, and nothing else.
    assert.throws(() => new AdamW([param], { backend, amsgrad: true }), /has no kernel registered for adam \(paramDtype fp32, momentDtype fp32, amsgrad\)/);
  });

  it('the optimizer looks each param\'s kernel up once (at construction and when its state is made), never per step', async () => {
    const lookups: string[] = [];
    const lookup = BACKENDS.kernel.bind(BACKENDS);
    BACKENDS.kernel = (owner, where, backend, variant) => {
      lookups.push(where);
      return lookup(owner, where, backend, variant);
    };
    try {
      const normal = seededNormal(9);
      const params = [300, 5000].map((n) => ({ data: Float32Array.from({ length: n }, normal), grad: Float32Array.from({ length: n }, normal) }));
      const opt: AdamOptimizer = new AdamW8bit(params, { backend: 'cpu' });
      assert.deepEqual(lookups, ['param 0', 'param 1']);
      for (let step = 0; step < 5; step++) await opt.step();
      assert.deepEqual(lookups, ['param 0', 'param 1', 'param 0', 'param 1'], 'construction, then the first step that makes each state');
      opt.destroy();
    } finally {
      BACKENDS.kernel = lookup;
    }
  });

  it("backend 'webgpu' keeps its state in a store of its own (device-resident); the others in host buffers", () => {
    const param = { data: new Float32Array(8), grad: new Float32Array(8) };
    const gpu = new AdamW([param], { backend: 'webgpu' });
    const internals = (opt: AdamOptimizer) => opt as unknown as { store: object; backend: { residentStore?: () => object } };
    assert.equal(internals(gpu).store, internals(gpu).backend.residentStore!());
    assert.match(gpu.backendDescription, /^webgpu \(device not yet requested/);
    gpu.destroy();
    for (const backend of ['cpu', 'js', 'onnx'] as const) {
      const opt = new AdamW([param], { backend });
      assert.equal(internals(opt).backend.residentStore, undefined, backend);
      assert.equal(opt.stateStorage, 'resident', backend);
      opt.destroy();
    }
  });
});

describe('kernel declarations', () => {
  const hp = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false, weightDecayMode: 'decoupled' as const };
  const RULES_SCALARS: Record<UpdateFamily, Record<string, number>> = {
    adam: { ...adamStepScalars(hp, 3) },
    debiased: { ...debiasedStepScalars(hp, 3, 2e-3) },
    blockwise8bit: { ...adam8bitStepScalars(hp, 3, 2e-3) },
  };

  it("each family's declared step scalars are its rules' scalars, by name and value", () => {
    for (const [family, declaration] of Object.entries(KERNEL_DECLARATIONS) as Array<[UpdateFamily, (typeof KERNEL_DECLARATIONS)[UpdateFamily]]>) {
      assert.equal(declaration.family, family);
      assert.deepEqual([...declaration.scalars].sort(), Object.keys(RULES_SCALARS[family]).sort(), family);
      assert.deepEqual(declaration.stepScalars(hp, 3, 2e-3), RULES_SCALARS[family], family);
    }
  });

  it('every ONNX graph takes only scalars its family declares, and reads only buffers it declares', () => {
    for (const [name, { signature }] of Object.entries(ONNX_GRAPHS)) {
      const family = name.split('-')[0] as UpdateFamily;
      const declaration = KERNEL_DECLARATIONS[family];
      for (const scalar of signature.scalars) assert.ok(declaration.scalars.includes(scalar), `${name}: scalar ${scalar}`);
      for (const tensor of signature.tensors) {
        assert.ok(['param', 'grad', ...declaration.buffers.map((b) => b.name)].includes(tensor.name), `${name}: tensor ${tensor.name}`);
      }
    }
  });

  it('every reachable plan lays its state out as its family declares: names in order, dtypes, per element or per block', () => {
    for (const { variant, options, paramDtype, length, amsgrad } of reachableKernelVariants()) {
      const plan = planTensor('test', 'p', options, paramDtype, length, amsgrad);
      assert.ok(KERNEL_DECLARATIONS[variant.family].paramDtypes.includes(plan.paramDtype), describeVariant(variant));
      const declared = KERNEL_DECLARATIONS[variant.family].buffers.filter((b) => b.when === undefined || plan[b.when]);
      assert.deepEqual(plan.buffers.map((b) => b.name), declared.map((b) => b.name), describeVariant(variant));
      declared.forEach((b, k) => {
        const spec = plan.buffers[k]!;
        assert.equal(spec.dtype, declaredDtype(b.dtype, plan.paramDtype, plan.momentDtype));
        assert.equal(isPerBlock(plan, spec), b.per === 'block');
        assert.equal(spec.length, b.per === 'block' ? Math.ceil(length / 256) : length);
      });
    }
  });
});
