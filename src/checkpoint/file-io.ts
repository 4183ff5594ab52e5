/**
 * Atomic file writes and bounded reads for checkpoints (Node). Browsers get file-io-browser.ts through
 * the package.json "browser" field and use saveBytes()/loadBytes() instead.
 *
 * Every failure is a {@link CheckpointFileError} whose message names the class, the call
 * (`save("…")`/`load("…")`), the path's role, what was wrong and what is allowed; the `fs` error it
 * came from is its `cause`, and its `code` (`ENOENT`, `EACCES`, `ENOSPC`, …) is kept.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The file operations an atomic write needs; tests pass a failing one to simulate a crash. */
export interface WriteFs {
  open: typeof open;
  rename: typeof rename;
  rm: typeof rm;
}

const nodeFs: WriteFs = { open, rename, rm };

/** Who is asking, for messages: the class (`AdamW`) and the call (`save("/tmp/x")`). */
export interface FileCaller {
  owner: string;
  where: string;
}

/** A checkpoint file could not be read or written; the message says why and what to do. */
export class CheckpointFileError extends Error {
  /** Always `'CheckpointFileError'`. */
  override name = 'CheckpointFileError';
  /** The `fs` error code (`ENOENT`, `EACCES`, `EROFS`, `ENOSPC`, …), or undefined when the file itself was refused. */
  readonly code: string | undefined;

  constructor(caller: FileCaller, problem: string, allowed: string, cause?: unknown) {
    super(`${caller.owner}: ${caller.where}: ${problem}; ${allowed}`, cause === undefined ? undefined : { cause });
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

/** What a file that is not a regular file is, in words. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** An `fs` error, in words, with its code: "does not exist (ENOENT)". */
function explain(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'does not exist',
    EACCES: 'is not accessible (permission denied)',
    EPERM: 'is not accessible (operation not permitted)',
    EROFS: 'is on a read-only file system',
    ENOSPC: 'is on a full disk (no space left on the device)',
    EDQUOT: 'is on a disk where your quota is used up',
    ENOTDIR: 'has a part that is not a directory',
    EISDIR: 'is a directory',
    ELOOP: 'is a loop of symbolic links',
    ENAMETOOLONG: 'is too long a name',
    EMFILE: 'cannot be opened: this process has too many open files',
    EIO: 'could not be read or written (I/O error)',
  };
  return e.code ? `${words[e.code] ?? `failed: ${e.message}`} (${e.code})` : `failed: ${String((error as Error)?.message ?? error)}`;
}

/**
 * Write `bytes` to `path` atomically: into a temporary file in the same directory, flushed to disk,
 * then renamed over `path`. A crash or error at any point leaves either the old file or the new one
 * under `path`, never half of one, and removes the temporary file. A `path` that exists but is not a
 * regular file (a directory, a FIFO, a device) is refused before anything is written.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, caller: FileCaller, fs: WriteFs = nodeFs): Promise<void> {
  const directory = dirname(path);
  const existing = await stat(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : e));
  if (existing instanceof Error) {
    throw new CheckpointFileError(caller, `the checkpoint file ${JSON.stringify(path)} ${explain(existing)}`, 'pass a path you can write', existing);
  }
  if (existing && !existing.isFile()) {
    throw new CheckpointFileError(caller, `the checkpoint path ${JSON.stringify(path)} is ${kindOf(existing)}, not a regular file`,
      'pass the path of a regular file (it is replaced) or of a new file');
  }
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let stage = 'create a temporary file in';
  try {
    const handle = await fs.open(temporary, 'wx');
    try {
      stage = `write ${bytes.byteLength} bytes into`;
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    stage = 'rename the temporary file in';
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    if (!(error as NodeJS.ErrnoException).code) throw error;
    throw new CheckpointFileError(caller, `could not ${stage} the directory ${JSON.stringify(directory)}: it ${explain(error)}`,
      `pass a path in an existing, writable directory with room for the file; ${existing ? 'the previous file is unchanged' : 'nothing was written'}`, error);
  }
}

/**
 * The whole file at `path`, which must be a regular file (symbolic links are followed) of at most
 * `maxBytes`: directories, FIFOs and devices (`/dev/zero`) are refused before a byte is read, and the
 * read never goes past the size the file had when it was opened.
 */
export async function readFileBytes(path: string, caller: FileCaller, maxBytes: number): Promise<Uint8Array> {
  const allowed = 'pass the path of a checkpoint file written by save()';
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new CheckpointFileError(caller, `the checkpoint file ${JSON.stringify(path)} ${explain(error)}`, allowed, error);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new CheckpointFileError(caller, `${JSON.stringify(path)} is ${kindOf(stats)}, not a regular file`, allowed);
    if (stats.size > maxBytes) {
      throw new CheckpointFileError(caller, `the file is ${stats.size} bytes, more than the ${maxBytes} bytes a checkpoint of this optimizer can take`,
        `${allowed} for an optimizer with the same params`);
    }
    const bytes = new Uint8Array(stats.size);
    let at = 0;
    while (at < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, at, bytes.byteLength - at, at);
      if (bytesRead === 0) {
        throw new CheckpointFileError(caller, `the file shrank from ${stats.size} to ${at} bytes while it was read`, 'do not change a checkpoint while it loads');
      }
      at += bytesRead;
    }
    return bytes;
  } catch (error) {
    if (error instanceof CheckpointFileError) throw error;
    throw new CheckpointFileError(caller, `the checkpoint file ${JSON.stringify(path)} ${explain(error)}`, allowed, error);
  } finally {
    await handle.close();
  }
}
