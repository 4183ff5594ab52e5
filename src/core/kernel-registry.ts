/**
 * The kernel registry: each backend registers, in one place, how to create it and its implementation
 * of each kernel variant (./kernel-declarations.ts); the optimizer asks it for its backend and, once
 * per param, for the kernel of the param's plan. Registering a backend or a variant twice throws; an
 * unregistered backend or variant is refused with an error that names what is registered, never
 * replaced by another. The model is bitsandbytes' `register_kernel` and TensorFlow.js' kernel
 * registry. The registry holds backends as an opaque type `B`, so it sits below the backends.
 * @module
 */
import { fail, showValue } from '../util/errors.js';
import { describeVariant, type KernelVariant } from './kernel-declarations.js';
import { reachableKernelVariants } from './variants.js';

/** A backend's implementation of one kernel variant: what the backend made of it (its own type). */
export type RegisteredKernel = object;

/** A registered kernel, with the backend and variant it was registered for. */
export interface KernelRegistration {
  backend: string;
  variant: KernelVariant;
  kernel: RegisteredKernel;
}

/** What the optimizer must know of a backend before creating it. */
export interface BackendTraits {
  /** Its state lives in device memory, so params whose data is a GPUBuffer stay there (unless paged). */
  deviceResidentState: boolean;
}

/** `or`-joined list of quoted names: `'cpu', 'js' or 'onnx'`. */
function listOf(names: readonly string[], or = 'or'): string {
  const quoted = names.map((n) => `'${n}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} ${or} ${quoted[quoted.length - 1]}`;
}

/** Backends by name (created by `create`) and their kernels by (backend, variant). */
export class KernelRegistry<B, O> {
  private readonly backends = new Map<string, { create: (owner: string, options: O) => B; traits: BackendTraits }>();
  private readonly kernels = new Map<string, KernelRegistration>();

  /** Register backend `name`, made by `create`; a name registered before throws. */
  registerBackend(name: string, traits: BackendTraits, create: (owner: string, options: O) => B): void {
    if (this.backends.has(name)) throw new Error(`KernelRegistry: backend '${name}' is already registered`);
    this.backends.set(name, { create, traits: { ...traits } });
  }

  /** The traits of backend `name`, or undefined when no such backend is registered. */
  traitsOf(name: unknown): Readonly<BackendTraits> | undefined {
    return typeof name === 'string' ? this.backends.get(name)?.traits : undefined;
  }

  /** Register `kernel` as `backend`'s implementation of `variant`; a variant registered before for that backend throws. */
  register(backend: string, variant: KernelVariant, kernel: RegisteredKernel): void {
    if (!this.backends.has(backend)) throw new Error(`KernelRegistry: register the backend '${backend}' before its kernels`);
    const key = `${backend}: ${describeVariant(variant)}`;
    if (this.kernels.has(key)) throw new Error(`KernelRegistry: ${key} is already registered`);
    this.kernels.set(key, { backend, variant: { ...variant }, kernel });
  }

  /**
   * Register `backend`'s kernel of every variant that options reach (reachableKernelVariants), as
   * `kernelFor` makes it; a variant for which it returns undefined is left unregistered.
   */
  registerVariants(backend: string, kernelFor: (variant: KernelVariant) => RegisteredKernel | undefined): void {
    for (const { variant } of reachableKernelVariants()) {
      const kernel = kernelFor(variant);
      if (kernel !== undefined) this.register(backend, variant, kernel);
    }
  }

  /** The names of the registered backends, in registration order. */
  backendNames(): string[] {
    return [...this.backends.keys()];
  }

  /** Every registered kernel, in registration order. */
  registrations(): KernelRegistration[] {
    return [...this.kernels.values()];
  }

  /** A new backend `name` for an optimizer of class `owner`; an unregistered name is refused. */
  createBackend(owner: string, name: unknown, options: O): B {
    const create = typeof name === 'string' ? this.backends.get(name)?.create : undefined;
    if (!create) fail(TypeError, owner, 'options', `backend = ${showValue(name)} is not supported`, `backend must be ${listOf(this.backendNames())}`);
    return create(owner, options);
  }

  /**
   * `backend`'s kernel for `variant`. Unregistered, it throws naming the class, the backend option,
   * the variant and the variants registered for that backend.
   */
  kernel(owner: string, where: string, backend: string, variant: KernelVariant): RegisteredKernel {
    const found = this.kernels.get(`${backend}: ${describeVariant(variant)}`);
    if (found) return found.kernel;
    const registered = this.registrations().filter((r) => r.backend === backend).map((r) => describeVariant(r.variant));
    return fail(Error, owner, where, `backend '${backend}' has no kernel registered for ${describeVariant(variant)}`,
      registered.length > 0 ? `backend '${backend}' registers ${registered.join('; ')}; choose another backend or other options` : `backend '${backend}' registers no kernels`);
  }
}
