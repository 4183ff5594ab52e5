/**
 * Arenas: WebAssembly memories from which the CPU backend hands out Float32Array views. A tensor that
 * lives in an arena is updated in place by the kernel (zero copies) and, in Node, by several worker
 * threads at once, because the memory is shared. Arrays from anywhere else are staged through
 * cache-sized chunks of an arena (wasm-backend.ts; with worker threads, pipelined: pipeline.ts).
 *
 * Views handed out never detach: a shared memory keeps its old buffers valid when it grows, and an
 * unshared memory (browsers without cross-origin isolation) is never grown; a new arena is opened.
 * @module
 */
import { instantiateKernel, MAX_PAGES, PAGE_BYTES, type WasmKernelExports } from './kernel.js';

/** Allocations are aligned to a cache line, which also satisfies the kernel's 16-byte v128 loads. */
const ALIGN = 64;
/** The first page is left to the module's own static data and stack. */
const RESERVED_BYTES = PAGE_BYTES;
/** Unshared arenas are opened at least this large, so small tensors share one. */
const MIN_UNSHARED_BYTES = 64 * 1024 * 1024;

interface FreeRange {
  offset: number;
  bytes: number;
}

/** One WebAssembly memory, its kernel instance and a first-fit allocator over it. */
export class Arena {
  readonly memory: WebAssembly.Memory;
  readonly kernel: WasmKernelExports;
  readonly shared: boolean;
  /** Free ranges sorted by offset, coalesced on release. */
  private readonly free: FreeRange[] = [];
  private top = RESERVED_BYTES;
  private readonly sizes = new Map<number, number>();

  constructor(memory: WebAssembly.Memory, shared: boolean) {
    this.memory = memory;
    this.shared = shared;
    this.kernel = instantiateKernel(memory);
  }

  /** Bytes currently handed out. */
  get bytesInUse(): number {
    let total = 0;
    for (const b of this.sizes.values()) total += b;
    return total;
  }

  /** The byte offset of `byteLength` zeroed bytes in this arena, or null when they cannot fit. */
  tryAllocateBytes(byteLength: number): number | null {
    const bytes = Math.max(ALIGN, Math.ceil(byteLength / ALIGN) * ALIGN);
    let offset = -1;
    const index = this.free.findIndex((r) => r.bytes >= bytes);
    if (index >= 0) {
      const range = this.free[index]!;
      offset = range.offset;
      if (range.bytes === bytes) this.free.splice(index, 1);
      else {
        range.offset += bytes;
        range.bytes -= bytes;
      }
    } else {
      const end = this.top + bytes;
      if (end > this.memory.buffer.byteLength && !this.growTo(end)) return null;
      offset = this.top;
      this.top = end;
    }
    this.sizes.set(offset, bytes);
    new Uint8Array(this.memory.buffer, offset, bytes).fill(0);
    registerBuffer(this.memory.buffer, this);
    return offset;
  }

  /** Give back a view over bytes from {@link tryAllocateBytes}. */
  release(view: ArrayBufferView): void {
    this.releaseBytes(view.byteOffset);
  }

  /** Give back the bytes at `offset`, as returned by {@link tryAllocateBytes}; other offsets are ignored. */
  releaseBytes(offset: number): void {
    const bytes = this.sizes.get(offset);
    if (bytes === undefined) return;
    this.sizes.delete(offset);
    let at = this.free.findIndex((r) => r.offset > offset);
    if (at < 0) at = this.free.length;
    this.free.splice(at, 0, { offset, bytes });
    // Coalesce with the next range, then with the previous one.
    const merged = this.free[at]!;
    const next = this.free[at + 1];
    if (next && merged.offset + merged.bytes === next.offset) {
      merged.bytes += next.bytes;
      this.free.splice(at + 1, 1);
    }
    const previous = this.free[at - 1];
    if (previous && previous.offset + previous.bytes === merged.offset) {
      previous.bytes += merged.bytes;
      this.free.splice(at, 1);
    }
    // A free range that ends at the bump pointer goes back to it.
    const last = this.free[this.free.length - 1];
    if (last && last.offset + last.bytes === this.top) {
      this.top = last.offset;
      this.free.pop();
    }
  }

  private growTo(bytes: number): boolean {
    if (!this.shared) return false;
    const pages = Math.ceil(bytes / PAGE_BYTES);
    if (pages > MAX_PAGES) return false;
    const current = this.memory.buffer.byteLength / PAGE_BYTES;
    // Grow geometrically so that many small allocations do not grow the memory one page at a time.
    const target = Math.min(MAX_PAGES, Math.max(pages, Math.ceil(current * 1.5)));
    try {
      this.memory.grow(target - current);
    } catch {
      try {
        this.memory.grow(pages - current);
      } catch {
        return false;
      }
    }
    registerBuffer(this.memory.buffer, this);
    return true;
  }
}

const arenaByBuffer = new WeakMap<ArrayBufferLike, Arena>();
function registerBuffer(buffer: ArrayBufferLike, arena: Arena): void {
  arenaByBuffer.set(buffer, arena);
}

/** The arena a view lives in, or undefined for any other array. */
export function arenaOf(view: ArrayBufferView): Arena | undefined {
  return arenaByBuffer.get(view.buffer);
}

let sharedSupported: boolean | undefined;
function canShare(): boolean {
  if (sharedSupported === undefined) {
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      sharedSupported = true;
    } catch {
      sharedSupported = false;
    }
  }
  return sharedSupported;
}

const arenas: Arena[] = [];

/** Every arena opened in this process, in order; worker threads attach to each. */
export function allArenas(): readonly Arena[] {
  return arenas;
}

/** Typed-array constructors by element size, for views into arenas. */
type ViewConstructor<T> = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => T;

/** Bytes an allocation of `byteLength` takes in an arena, alignment included. */
const footprint = (byteLength: number): number => Math.max(ALIGN, Math.ceil(byteLength / ALIGN) * ALIGN);

/**
 * An arena with room for all of `byteLengths` at once: `near`'s arena when it has room, else any
 * arena, else a new one. Allocations made from it right after are guaranteed to fit.
 */
function arenaWithRoom(byteLengths: readonly number[], near?: ArrayBufferView): Arena {
  const total = byteLengths.reduce((sum, b) => sum + footprint(b), 0);
  const preferred = near ? arenaOf(near) : undefined;
  const candidates = preferred ? [preferred, ...arenas.filter((a) => a !== preferred)] : arenas;
  for (const arena of candidates) {
    // A trial allocation of the whole group, given straight back, proves the room exists.
    const offset = arena.tryAllocateBytes(total);
    if (offset !== null) {
      arena.release(new Uint8Array(arena.memory.buffer, offset, total));
      return arena;
    }
  }
  const bytes = RESERVED_BYTES + total;
  const shared = canShare();
  const initial = Math.ceil((shared ? bytes : Math.max(bytes, MIN_UNSHARED_BYTES)) / PAGE_BYTES);
  if (initial > MAX_PAGES) {
    throw new RangeError(
      `adamw-lab: a tensor needing ${total} bytes of buffers is more than the 4 GiB a WebAssembly memory ` +
        "can address; split it into smaller tensors, or use backend: 'js'",
    );
  }
  const memory = shared
    ? new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true })
    : new WebAssembly.Memory({ initial });
  const arena = new Arena(memory, shared);
  registerBuffer(memory.buffer, arena);
  arenas.push(arena);
  return arena;
}

/** Zeroed typed arrays, all in one arena (`near`'s when it has room), so one kernel call reaches them all. */
export function allocateViewsInArena<T extends ArrayBufferView>(
  requests: ReadonlyArray<{ Type: ViewConstructor<T> & { BYTES_PER_ELEMENT: number }; length: number }>,
  near?: ArrayBufferView,
): T[] {
  const byteLengths = requests.map((r) => r.length * r.Type.BYTES_PER_ELEMENT);
  const arena = arenaWithRoom(byteLengths, near);
  return requests.map((r, i) => {
    const offset = arena.tryAllocateBytes(byteLengths[i]!);
    if (offset === null) throw new Error('adamw-lab: internal error: an arena lost the room it was chosen for');
    return new r.Type(arena.memory.buffer, offset, r.length);
  });
}

/** A zeroed Float32Array in an arena: in `near`'s arena when it has room, else in any arena. */
export function allocateInArena(length: number, near?: ArrayBufferView): Float32Array {
  return allocateViewsInArena([{ Type: Float32Array, length }], near)[0]!;
}

/** Give back a view from an arena; other arrays are ignored. */
export function releaseFromArena(view: ArrayBufferView): void {
  arenaOf(view)?.release(view);
}
