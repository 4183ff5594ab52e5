/**
 * Paged optimizer state (PagedAdamW, PagedAdamW8bit) for Node: the state lives in a spill file and
 * at most `budgetBytes` of it is resident, in a ring of page frames. While the kernel updates one
 * page, the next is read in and the previous written back (libuv's thread pool does the I/O, so it
 * overlaps the kernel). This is bitsandbytes' paging (CUDA unified memory prefetched per param)
 * redone for host memory and a file: the step never needs all state at once, and its results equal
 * the unpaged optimizer's bit for bit, because a page is a whole number of 256-element blocks and
 * every update rule is element-wise or block-wise.
 * @module
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, UpdateTask } from '../backends/backend.js';
import { BLOCK_SIZE } from '../rules/blockwise8bit.js';
import type { AnyParam, Param } from '../types.js';
import { fail } from '../util/errors.js';
import type { PagingStats, StateStore, StoredState, StoreWork } from './state-store.js';

export type { PagingStats } from './state-store.js';
import { ARRAY_TYPES, DTYPE_BYTES, isPerBlock, pagePlan, type StateBuffer, type TensorPlan } from './variants.js';

/** Default resident budget: 64 MiB. */
export const DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024;
/** Buffer views inside a frame start on cache lines. */
const ALIGN = 64;

interface PagedState extends StoredState {
  /** File offset of each buffer's first byte. */
  offsets: Record<string, number>;
  /** Elements per page for this tensor (a multiple of 256). */
  pageElements: number;
  released: boolean;
}

/** Bytes of state per element of a tensor under `plan` (per-block buffers spread over their block). */
function bytesPerElement(plan: TensorPlan): number {
  return plan.buffers.reduce((sum, b) => sum + (isPerBlock(plan, b) ? DTYPE_BYTES[b.dtype] / BLOCK_SIZE : DTYPE_BYTES[b.dtype]), 0);
}

/** Layout of a page's buffers inside a frame: byte offset of each, cache-line aligned. */
function frameLayout(plan: TensorPlan): { offsets: number[]; bytes: number } {
  let at = 0;
  const offsets = plan.buffers.map((b) => {
    const here = at;
    at += Math.ceil((b.length * DTYPE_BYTES[b.dtype]) / ALIGN) * ALIGN;
    return here;
  });
  return { offsets, bytes: at };
}

/** State in a spill file, `budgetBytes` of it resident at most. */
export class PagedStore implements StateStore {
  readonly stats: PagingStats;
  private readonly directory: string;
  private readonly path: string;
  private readonly fd: number;
  private handle: Promise<FileHandle> | undefined;
  private fileBytes = 0;
  private readonly pageBytes: number;
  private frames: Uint8Array[] = [];

  constructor(
    private readonly owner: string,
    private readonly backend: Backend,
    options: { budgetBytes?: number; pageBytes?: number; directory?: string },
  ) {
    const budgetBytes = options.budgetBytes ?? DEFAULT_BUDGET_BYTES;
    this.pageBytes = options.pageBytes ?? Math.floor(budgetBytes / 4);
    if (Math.floor(budgetBytes / this.pageBytes) < 2) {
      fail(RangeError, owner, 'options', `paged.budgetBytes = ${budgetBytes} holds fewer than two pages of ${this.pageBytes} bytes`,
        'the budget must hold at least two pages (one updating, one in flight)');
    }
    this.directory = mkdtempSync(join(options.directory ?? tmpdir(), 'adamw-lab-paged-'));
    this.path = join(this.directory, 'state.bin');
    this.fd = openSync(this.path, 'w+');
    this.stats = { frameBytes: 0, frames: 0, budgetBytes, peakResidentBytes: 0, pagesRequested: 0, pagesRead: 0, pagesWritten: 0 };
  }

  get description(): string {
    return `paged: ${this.stats.frames || '(not yet allocated)'} frames of ${this.stats.frameBytes || this.pageBytes} bytes, spill file ${this.path}`;
  }

  create(_param: AnyParam, plan: TensorPlan): PagedState {
    const offsets: Record<string, number> = {};
    for (const spec of plan.buffers) {
      offsets[spec.name] = this.fileBytes;
      this.fileBytes += Math.ceil((spec.length * DTYPE_BYTES[spec.dtype]) / ALIGN) * ALIGN;
    }
    // Growing the file leaves a hole that reads as zeros: fresh state is zero.
    ftruncateSync(this.fd, this.fileBytes);
    const perElement = bytesPerElement(plan);
    const pageElements = Math.max(BLOCK_SIZE, Math.floor(this.pageBytes / perElement / BLOCK_SIZE) * BLOCK_SIZE);
    return { plan, offsets, pageElements, released: false };
  }

  read(state: StoredState): Record<string, StateBuffer> {
    const s = state as PagedState;
    const out: Record<string, StateBuffer> = {};
    for (const spec of s.plan.buffers) {
      const buffer = new ARRAY_TYPES[spec.dtype](spec.length);
      readSync(this.fd, new Uint8Array(buffer.buffer), 0, buffer.byteLength, s.offsets[spec.name]!);
      out[spec.name] = buffer;
    }
    return out;
  }

  readAsync(state: StoredState): Promise<Record<string, StateBuffer>> {
    return Promise.resolve(this.read(state));
  }

  write(state: StoredState, values: Record<string, ArrayLike<number>>): void {
    const s = state as PagedState;
    for (const spec of s.plan.buffers) {
      const buffer = ARRAY_TYPES[spec.dtype].from(values[spec.name]!);
      writeSync(this.fd, new Uint8Array(buffer.buffer), 0, buffer.byteLength, s.offsets[spec.name]);
    }
  }

  release(state: StoredState): void {
    // File space is reused only when the whole store closes; mark the state dead.
    (state as PagedState).released = true;
  }

  async run(work: readonly StoreWork[]): Promise<void> {
    // Host params only: the optimizer refuses GpuParams on this backend.
    const pages = work.flatMap((w) => {
      const s = w.state as PagedState;
      const param = w.param as Param;
      const n = param.data.length;
      const out: Array<{ param: Param; work: StoreWork; start: number; end: number }> = [];
      for (let start = 0; start < n; start += s.pageElements) out.push({ param, work: w, start, end: Math.min(n, start + s.pageElements) });
      return out;
    });
    if (pages.length === 0) return;
    this.ensureFrames(work.map((w) => w.state as PagedState));
    const handle = await (this.handle ??= open(this.path, 'r+'));
    const ring = this.frames.length;
    const reads: Array<Promise<void> | undefined> = [];
    const writes: Array<Promise<void> | undefined> = [];
    const issueRead = (i: number): void => {
      const f = i % ring;
      this.stats.pagesRequested++;
      // The frame is free once the page that last used it has been written back.
      reads[i] = (writes[f] ?? Promise.resolve()).then(() => this.transfer(handle, pages[i]!, this.frames[f]!, 'read'));
    };
    issueRead(0);
    for (let i = 0; i < pages.length; i++) {
      await reads[i];
      if (i + 1 < pages.length) issueRead(i + 1); // prefetch while this page updates
      const page = pages[i]!;
      const frame = this.frames[i % ring]!;
      const plan = pagePlan(page.work.state.plan, page.end - page.start);
      const { offsets } = frameLayout(plan);
      const buffers: Record<string, StateBuffer> = {};
      plan.buffers.forEach((spec, k) => {
        buffers[spec.name] = new ARRAY_TYPES[spec.dtype](frame.buffer as ArrayBuffer, frame.byteOffset + offsets[k]!, spec.length);
      });
      const task: UpdateTask = {
        plan, buffers, hp: page.work.hp, step: page.work.step,
        param: page.param.data.subarray(page.start, page.end),
        grad: page.param.grad!.subarray(page.start, page.end),
      };
      await this.backend.step([task]);
      writes[i % ring] = this.transfer(handle, page, frame, 'write');
    }
    await Promise.all(writes.filter((w): w is Promise<void> => w !== undefined));
  }

  close(): void {
    for (const frame of this.frames) this.backend.release(frame);
    this.frames = [];
    void this.handle?.then((h) => h.close());
    closeSync(this.fd);
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** Allocate the ring of frames once, sized for the largest page. */
  private ensureFrames(states: PagedState[]): void {
    const needed = Math.max(...states.map((s) => frameLayout(pagePlan(s.plan, s.pageElements)).bytes));
    if (this.frames.length > 0 && needed <= this.stats.frameBytes) return;
    for (const frame of this.frames) this.backend.release(frame);
    const count = Math.floor(this.stats.budgetBytes / needed);
    if (count < 2) {
      fail(RangeError, this.owner, 'paged', `a page of ${needed} bytes leaves room for ${count} frame(s) in the budget of ${this.stats.budgetBytes} bytes`,
        'raise paged.budgetBytes or lower paged.pageBytes so that two pages fit');
    }
    this.frames = Array.from({ length: count }, () => this.backend.allocate('u8', needed));
    this.stats.frameBytes = needed;
    this.stats.frames = count;
    this.stats.peakResidentBytes = Math.max(this.stats.peakResidentBytes, count * needed);
  }

  /** Move one page between the file and a frame, one contiguous range per buffer. */
  private async transfer(handle: FileHandle, page: { work: StoreWork; start: number; end: number }, frame: Uint8Array, direction: 'read' | 'write'): Promise<void> {
    const state = page.work.state as PagedState;
    const plan = pagePlan(state.plan, page.end - page.start);
    const { offsets } = frameLayout(plan);
    await Promise.all(plan.buffers.map((spec, k) => {
      const first = isPerBlock(state.plan, spec) ? page.start / BLOCK_SIZE : page.start;
      const position = state.offsets[spec.name]! + first * DTYPE_BYTES[spec.dtype];
      const bytes = spec.length * DTYPE_BYTES[spec.dtype];
      const view = frame.subarray(offsets[k], offsets[k]! + bytes);
      return direction === 'read' ? handle.read(view, 0, bytes, position) : handle.write(view, 0, bytes, position);
    }));
    if (direction === 'read') this.stats.pagesRead++;
    else this.stats.pagesWritten++;
  }
}
