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
import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, UpdateTask } from '../backends/backend.js';
import type { RegisteredKernel } from '../core/kernel-registry.js';
import { BLOCK_SIZE } from '../rules/blockwise8bit.js';
import type { AnyParam, Param } from '../types.js';
import { fail } from '../util/errors.js';
import type { PagingStats, StateStore, StoredState, StoreWork } from './state-store.js';

export type { PagingStats } from './state-store.js';
import { DTYPES } from '../core/dtypes.js';
import { isPerBlock, pagePlan, planElements, type BufferSpec, type StateBuffer, type TensorPlan } from '../core/variants.js';

/** Default resident budget: 64 MiB. */
export const DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024;
/** Buffer views inside a frame start on cache lines. */
const ALIGN = 64;
/** The smallest page: one 256-element block of the widest state (fp32 m, v and amsgrad's v_max). */
export const MIN_PAGE_BYTES = 3 * BLOCK_SIZE * 4;

interface PagedState extends StoredState {
  /** File offset of each buffer's first byte. */
  offsets: Record<string, number>;
  /** Elements per page for this tensor (a multiple of 256). */
  pageElements: number;
  /** Checksum of each page as last written ({@link pageChecksum}); undefined: never written, all zeros. */
  checksums: Array<number | undefined>;
  released: boolean;
}

/** Words of each buffer's part of a page that its checksum reads (all of them when there are fewer). */
const CHECKSUM_SAMPLES = 1024;

/**
 * Call `visit(word)` for the words of `views` a page checksum reads: every word of a small view, else
 * {@link CHECKSUM_SAMPLES} evenly spaced ones, first and last included (a partial last word is read
 * byte by byte). Sampling keeps the check off the step's critical path (hashing every byte in
 * JavaScript cost more than the step itself); it still catches any truncation and any overwrite that
 * spans a sampling stride, i.e. 1/1024 of a page's buffer (4 KiB of a 4 MiB page).
 */
function forEachSampledWord(views: readonly Uint8Array[], visit: (word: number) => void): void {
  for (const view of views) {
    const whole = view.byteLength >>> 2;
    // Frames and spill buffers start on 64-byte boundaries, so the word view is aligned.
    const words = (view.byteOffset & 3) === 0 ? new Int32Array(view.buffer, view.byteOffset, whole) : new Int32Array(view.slice(0, whole * 4).buffer);
    if (whole <= CHECKSUM_SAMPLES) {
      for (let i = 0; i < whole; i++) visit(words[i]!);
    } else {
      for (let i = 0; i < CHECKSUM_SAMPLES; i++) visit(words[Math.floor((i * (whole - 1)) / (CHECKSUM_SAMPLES - 1))]!);
    }
    for (let i = whole * 4; i < view.byteLength; i++) visit(view[i]!);
  }
}

/**
 * A 32-bit checksum of a page (MurmurHash3's mixing over {@link forEachSampledWord}'s words and the
 * lengths), kept in memory for each page written to the spill file and compared when the page is
 * read back, so that a file truncated or overwritten between steps is refused instead of silently
 * giving wrong state.
 */
export function pageChecksum(views: readonly Uint8Array[]): number {
  let h = 0x9747b28c;
  const mix = (k: number): void => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  forEachSampledWord(views, mix);
  for (const view of views) mix(view.byteLength);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether the words a checksum reads are all zero: a page never written is a hole in the file. */
function sampledZero(views: readonly Uint8Array[]): boolean {
  let any = 0;
  forEachSampledWord(views, (word) => (any |= word));
  return any === 0;
}

/** Spill directories of stores not yet closed, removed when the process exits (a never-destroyed optimizer leaves nothing). */
const liveSpills = new Map<string, number>();
let exitHookInstalled = false;
function removeSpillsAtExit(): void {
  for (const [directory, fd] of liveSpills) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(directory, { recursive: true, force: true });
  }
  liveSpills.clear();
}

/** Bytes of state per element of a tensor under `plan` (per-block buffers spread over their block). */
function bytesPerElement(plan: TensorPlan): number {
  return plan.buffers.reduce((sum, b) => sum + (isPerBlock(plan, b) ? DTYPES[b.dtype].bytes / BLOCK_SIZE : DTYPES[b.dtype].bytes), 0);
}

/** Layout of a page's buffers inside a frame: byte offset of each, cache-line aligned. */
function frameLayout(plan: TensorPlan): { offsets: number[]; bytes: number } {
  let at = 0;
  const offsets = plan.buffers.map((b) => {
    const here = at;
    at += Math.ceil((b.length * DTYPES[b.dtype].bytes) / ALIGN) * ALIGN;
    return here;
  });
  return { offsets, bytes: at };
}

/** A new directory for a spill file under `parent`, or a clear error. */
function makeSpillDirectory(owner: string, parent: string): string {
  try {
    return mkdtempSync(join(parent, 'adamw-lab-paged-'));
  } catch (error) {
    return fail(Error, owner, 'options', `cannot create the spill directory in paged.directory = ${JSON.stringify(parent)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'pass an existing, writable directory');
  }
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
    // Refused here, not at the first step: a page holds at least one 256-element block of state.
    if (this.pageBytes < MIN_PAGE_BYTES) {
      const pages = options.pageBytes === undefined ? `paged.budgetBytes = ${budgetBytes} gives pages of ${this.pageBytes} bytes,` : `paged.pageBytes = ${this.pageBytes} is`;
      fail(RangeError, owner, 'options', `${pages} less than one 256-element block of state (up to ${MIN_PAGE_BYTES} bytes)`,
        options.pageBytes === undefined ? `paged.budgetBytes must be at least ${4 * MIN_PAGE_BYTES}` : `paged.pageBytes must be at least ${MIN_PAGE_BYTES}`);
    }
    this.directory = makeSpillDirectory(owner, options.directory ?? tmpdir());
    this.path = join(this.directory, 'state.bin');
    this.fd = openSync(this.path, 'w+');
    liveSpills.set(this.directory, this.fd);
    if (!exitHookInstalled) {
      process.on('exit', removeSpillsAtExit);
      exitHookInstalled = true;
    }
    this.stats = { frameBytes: 0, frames: 0, budgetBytes, peakResidentBytes: 0, pagesRequested: 0, pagesRead: 0, pagesWritten: 0 };
  }

  get description(): string {
    return `paged: ${this.stats.frames || '(not yet allocated)'} frames of ${this.stats.frameBytes || this.pageBytes} bytes, spill file ${this.path}`;
  }

  create(_param: AnyParam, plan: TensorPlan, kernel?: RegisteredKernel): PagedState {
    const offsets: Record<string, number> = {};
    for (const spec of plan.buffers) {
      offsets[spec.name] = this.fileBytes;
      this.fileBytes += Math.ceil((spec.length * DTYPES[spec.dtype].bytes) / ALIGN) * ALIGN;
    }
    // Growing the file leaves a hole that reads as zeros: fresh state is zero.
    ftruncateSync(this.fd, this.fileBytes);
    const perElement = bytesPerElement(plan);
    let pageElements = Math.max(BLOCK_SIZE, Math.floor(this.pageBytes / perElement / BLOCK_SIZE) * BLOCK_SIZE);
    // Cache-line padding of each buffer in a frame may push a page past pageBytes: one block less.
    while (pageElements > BLOCK_SIZE && frameLayout(pagePlan(plan, pageElements)).bytes > this.pageBytes) pageElements -= BLOCK_SIZE;
    const elements = planElements(plan);
    return { plan, kernel, offsets, pageElements, checksums: new Array<undefined>(Math.ceil(elements / pageElements)).fill(undefined), released: false };
  }

  read(state: StoredState): Record<string, StateBuffer> {
    const s = state as PagedState;
    this.checkFileSize();
    const out: Record<string, StateBuffer> = {};
    for (const spec of s.plan.buffers) {
      const buffer = new DTYPES[spec.dtype].array(spec.length);
      readSync(this.fd, new Uint8Array(buffer.buffer), 0, buffer.byteLength, s.offsets[spec.name]!);
      out[spec.name] = buffer;
    }
    this.forEachPage(s, out, (page, views) => this.verify(s, page, views));
    return out;
  }

  readAsync(state: StoredState): Promise<Record<string, StateBuffer>> {
    return Promise.resolve(this.read(state));
  }

  write(state: StoredState, values: Record<string, ArrayLike<number>>): void {
    const s = state as PagedState;
    const written: Record<string, StateBuffer> = {};
    for (const spec of s.plan.buffers) {
      const buffer = DTYPES[spec.dtype].array.from(values[spec.name]!);
      written[spec.name] = buffer;
      writeSync(this.fd, new Uint8Array(buffer.buffer), 0, buffer.byteLength, s.offsets[spec.name]);
    }
    this.forEachPage(s, written, (page, views) => (s.checksums[page] = pageChecksum(views)));
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
    // A truncated file is refused before any param moves; an overwritten page, by its checksum.
    this.checkFileSize();
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
      // A prefetch refused (damaged page) while the current page updates is reported when awaited, not as unhandled.
      reads[i].catch(() => undefined);
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
        buffers[spec.name] = new DTYPES[spec.dtype].array(frame.buffer as ArrayBuffer, frame.byteOffset + offsets[k]!, spec.length);
      });
      const task: UpdateTask = {
        plan, buffers, hp: page.work.hp, step: page.work.step, kernel: page.work.state.kernel,
        param: page.param.data.subarray(page.start, page.end),
        grad: page.param.grad!.subarray(page.start, page.end),
      };
      await this.backend.step([task]);
      writes[i % ring] = this.transfer(handle, page, frame, 'write');
      writes[i % ring]!.catch(() => undefined);
    }
    await Promise.all(writes.filter((w): w is Promise<void> => w !== undefined));
  }

  close(): void {
    for (const frame of this.frames) this.backend.release(frame);
    this.frames = [];
    void this.handle?.then((h) => h.close());
    closeSync(this.fd);
    rmSync(this.directory, { recursive: true, force: true });
    liveSpills.delete(this.directory);
  }

  /** Refuse a spill file shorter than the state it holds (truncated by someone else). */
  private checkFileSize(): void {
    const size = fstatSync(this.fd).size;
    if (size < this.fileBytes) this.corrupted(`it is ${size} bytes, but the state written to it takes ${this.fileBytes} (truncated)`);
  }

  private corrupted(problem: string): never {
    return this.spillFailure(`${problem}; it was changed by something other than this optimizer`, 'do not touch the spill file while the optimizer lives');
  }

  private spillFailure(problem: string, advice: string): never {
    return fail(Error, this.owner, `paged state: spill file ${JSON.stringify(this.path)}`, problem,
      `the state is lost: ${advice}; create a new optimizer, or load a checkpoint into one`);
  }

  /** Compare a page read back from the file with the checksum it was written with (all zeros if never written). */
  private verify(state: PagedState, page: number, views: readonly Uint8Array[]): void {
    const expected = state.checksums[page];
    const intact = expected === undefined ? sampledZero(views) : pageChecksum(views) === expected;
    if (!intact) this.corrupted(`page ${page} of a param's state (${state.pageElements} elements a page) differs from what was written to it`);
  }

  /** Call `body(page, views)` with each page's byte views into whole-tensor buffers `buffers`. */
  private forEachPage(state: PagedState, buffers: Record<string, StateBuffer>, body: (page: number, views: Uint8Array[]) => void): void {
    for (let page = 0; page < state.checksums.length; page++) {
      const start = page * state.pageElements;
      body(page, this.pageRanges(state, start, start + state.pageElements).map(({ spec, first, bytes }) => {
        const b = buffers[spec.name]!;
        return new Uint8Array(b.buffer, b.byteOffset + first * DTYPES[spec.dtype].bytes, bytes);
      }));
    }
  }

  /** Each buffer's part of the page [start, end): its spec, first element and byte count. */
  private pageRanges(state: PagedState, start: number, end: number): Array<{ spec: BufferSpec; first: number; bytes: number }> {
    const elements = Math.min(end, state.plan.buffers.find((b) => !isPerBlock(state.plan, b))!.length) - start;
    return pagePlan(state.plan, elements).buffers.map((spec) => ({
      spec,
      first: isPerBlock(state.plan, spec) ? start / BLOCK_SIZE : start,
      bytes: spec.length * DTYPES[spec.dtype].bytes,
    }));
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
    const ranges = this.pageRanges(state, page.start, page.end);
    const { offsets } = frameLayout(pagePlan(state.plan, page.end - page.start));
    const views = ranges.map(({ bytes }, k) => frame.subarray(offsets[k], offsets[k]! + bytes));
    const index = page.start / state.pageElements;
    if (direction === 'write') state.checksums[index] = pageChecksum(views);
    const position = (k: number): number => state.offsets[ranges[k]!.spec.name]! + ranges[k]!.first * DTYPES[ranges[k]!.spec.dtype].bytes;
    // A full disk (ENOSPC) or an I/O error is reported with the spill file's name, not as a bare fs error.
    const io = <T>(operation: Promise<T>): Promise<T> => operation.catch((error: NodeJS.ErrnoException) => this.spillFailure(
      `${direction === 'read' ? 'reading' : 'writing'} page ${index} failed: ${error.code ?? error.message}${error.code === 'ENOSPC' ? ' (no space left on the device)' : ''}`,
      'put paged.directory on a disk with room for the whole state'));
    if (direction === 'read') {
      const moved = await Promise.all(ranges.map(({ bytes }, k) => io(handle.read(views[k]!, 0, bytes, position(k)))));
      moved.forEach(({ bytesRead }, k) => {
        if (bytesRead !== ranges[k]!.bytes) this.corrupted(`page ${index} of a param's state could be read only in part (${bytesRead} of ${ranges[k]!.bytes} bytes of ${ranges[k]!.spec.name}; truncated)`);
      });
      this.verify(state, index, views);
      this.stats.pagesRead++;
    } else {
      await Promise.all(ranges.map(({ bytes }, k) => io(handle.write(views[k]!, 0, bytes, position(k)))));
      this.stats.pagesWritten++;
    }
  }
}
