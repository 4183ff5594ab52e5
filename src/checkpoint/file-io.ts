/**
 * Atomic file writes and reads for checkpoints (Node). Browsers get file-io-browser.ts through the
 * package.json "browser" field and use saveBytes()/loadBytes() instead.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The file operations an atomic write needs; tests pass a failing one to simulate a crash. */
export interface WriteFs {
  open: typeof open;
  rename: typeof rename;
  rm: typeof rm;
}

const nodeFs: WriteFs = { open, rename, rm };

/**
 * Write `bytes` to `path` atomically: into a temporary file in the same directory, flushed to disk,
 * then renamed over `path`. A crash at any point leaves either the old file or the new one under
 * `path`, never half of one; a failed write removes its temporary file.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, fs: WriteFs = nodeFs): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(temporary, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** The whole file. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
