/**
 * Browser replacement for file-io.ts (package.json "browser" field): there is no file system; use
 * `opt.saveBytes()` and `opt.loadBytes(bytes)`.
 * @module
 */

const NO_FILE_SYSTEM = "adamw-lab: save(path) and load(path) need Node's file system; in a browser use saveBytes() and loadBytes(bytes)";

/** Placeholder with file-io.ts's shape. */
export type WriteFs = never;

/** Placeholder with file-io.ts's shape. */
export interface FileCaller {
  owner: string;
  where: string;
}

/** Always rejects: browsers have no file system. */
export function writeFileAtomic(): Promise<void> {
  return Promise.reject(new Error(NO_FILE_SYSTEM));
}

/** Always rejects: browsers have no file system. */
export function readFileBytes(): Promise<Uint8Array> {
  return Promise.reject(new Error(NO_FILE_SYSTEM));
}
