/**
 * Paged state on backend 'webgpu' (PagedAdamW, PagedAdamW8bit with `backend: 'webgpu'`): the paged
 * store (src/optim/paging.ts) keeps the state in host pages under its budget, spilled to a file, and
 * hands this backend one page at a time; this backend streams each page through one device frame per
 * update kernel: state and params up, the same fused WGSL kernel as the resident store, state and
 * params down (a page shorter than its frame updates the frame's first elements only). Device memory stays at one page per kernel, whatever the model's size, at the price of
 * moving the state across the bus every step. The arithmetic is the resident store's, element for
 * element (pages start on whole 256-element blocks), so the result is bit-identical to it.
 * @module
 */
import { byFamily, taskKernel, type Backend, type UpdateTask } from '../backend.js';
import { HostArrayBackend, plainBuffer } from '../js.js';
import type { StoredState } from '../../core/state-store.js';
import { pagePlan, type TensorPlan } from '../../core/variants.js';
import { slabKey, WebGpuStore, type WebGpuStoreOptions } from './webgpu-store.js';
import { WGSL_KERNELS, type WgslKernel } from './wgsl-kernels.js';

/** The device frame of one update kernel: a state of the largest page seen so far. */
interface Frame {
  state: StoredState;
  length: number;
}

export class WebGpuPageBackend extends HostArrayBackend implements Backend {
  protected readonly store: WebGpuStore;
  private readonly frames = new Map<string, Frame>();

  constructor(owner: string, options: WebGpuStoreOptions = {}) {
    super();
    this.store = new WebGpuStore(owner, options);
  }

  get description(): string {
    return `${this.store.description}, paged through one device frame per kernel`;
  }

  /** GPU buffers alive now (the frames, their uniforms, staging). */
  get liveBuffers(): number {
    return this.store.liveBuffers;
  }

  async step(tasks: readonly UpdateTask[]): Promise<void> {
    for (const task of tasks) await this.stepPage(task);
  }

  /** One page: its state and params up, the kernel, its state and params down. A shorter page uses the frame's start. */
  private async stepPage(task: UpdateTask): Promise<void> {
    const frame = this.frame(task.plan, task.param.length, taskKernel(task, wgslKernelOf));
    this.store.write(frame.state, task.buffers);
    const param = { data: task.param, grad: task.grad, dtype: task.plan.paramDtype === 'bf16' ? 'bf16' as const : 'fp32' as const };
    await this.store.run([{ state: frame.state, param, hp: task.hp, step: task.step, elements: task.param.length }]);
    const state = await this.store.readAsync(frame.state);
    for (const [name, buffer] of Object.entries(task.buffers)) buffer.set(state[name]!.subarray(0, buffer.length));
  }

  /** The frame for `plan`'s kernel, made anew when a page is longer than any before. */
  private frame(plan: TensorPlan, length: number, kernel: WgslKernel): Frame {
    const key = slabKey(plan);
    let frame = this.frames.get(key);
    if (!frame || frame.length < length) {
      if (frame) this.store.release(frame.state);
      frame = { state: this.store.create({ data: plainBuffer(plan.paramDtype, length) }, pagePlan(plan, length), kernel), length };
      this.frames.set(key, frame);
    }
    return frame;
  }

  async dispose(): Promise<void> {
    this.store.close();
    return Promise.resolve();
  }
}

const wgslKernelOf = byFamily(WGSL_KERNELS);
