/**
 * Browser replacement for paging.ts (package.json "browser" field): paged state spills to a file,
 * which needs Node's file system.
 * @module
 */
import type { Backend } from '../backends/backend.js';
import type { PagingStats, StateStore } from './state-store.js';

export type { PagingStats };

/** Refuses to construct: there is no file system to page to. */
export class PagedStore {
  readonly stats!: PagingStats;
  constructor(owner: string, _backend: Backend, _options: unknown) {
    throw new Error(`${owner}: options: paged state needs Node's file system, which this build (browser) does not have; drop paged, or run in Node`);
  }
}

export type { StateStore };
