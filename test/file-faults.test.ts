/**
 * Checkpoint files that cannot be written or are not checkpoints: a missing or unwritable directory,
 * a full disk, a symbolic link to a device, a FIFO, a directory. Each is refused within a second by
 * an error naming the class, the call and the path, the old checkpoint stays intact, no temporary
 * file is left, and a refused load changes nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { AdamW, PagedAdamW, type Param } from '../src/index.js';
import { seededNormal, scratchDirectory } from './helpers.js';

const dir = scratchDirectory('adamw-lab-faults-');
const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];
after(() => {
  // Lazy: a file a failed test left open must not keep the mount.
  for (const mount of mounts) execFileSync('umount', ['-l', mount]);
});

/** An AdamW stepped twice on seeded params, and a fingerprint of its state and params. */
async function stepped(length = 300, seed = 5): Promise<{ opt: AdamW; fingerprint: () => Promise<string> }> {
  const normal = seededNormal(seed);
  const params: Param[] = [{ data: Float32Array.from({ length }, normal), grad: Float32Array.from({ length }, normal), name: 'w' }];
  const opt = new AdamW(params, { lr: 1e-2 });
  await opt.step();
  await opt.step();
  const fingerprint = async (): Promise<string> => Buffer.from(await opt.saveBytes()).toString('base64') + Buffer.from(params[0]!.data.buffer).toString('base64');
  return { opt, fingerprint };
}

/** `call` rejects within a second with a message matching every pattern. */
async function refusedQuickly(call: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('still running after 1 s')), 1000)));
  try {
    await assert.rejects(Promise.race([call, deadline]), (e: Error) => {
      assert.notEqual(e.message, 'still running after 1 s', 'not refused within a second');
      for (const pattern of patterns) assert.match(e.message, pattern);
      return true;
    });
  } finally {
    clearTimeout(timer);
  }
  assert.ok(performance.now() - started < 1000);
}

/** A tmpfs of `size` mounted in a new directory (root only), or undefined after skipping `t`, saying why. */
function tmpfs(t: TestContext, size: string): string | undefined {
  if (!isRoot) {
    t.skip('mounting a small tmpfs needs root (CI runs as root)');
    return undefined;
  }
  const mount = mkdtempSync(join(dir, 'tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`cannot mount a tmpfs here: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
  mounts.push(mount);
  return mount;
}

const noTemporaryFiles = (directory: string): void => assert.deepEqual(readdirSync(directory).filter((f) => f.endsWith('.tmp')), []);

describe('checkpoint file faults are refused clearly, leaving the old checkpoint and the optimizer intact', () => {
  it('a missing directory: save() and load() say which path does not exist', async () => {
    const { opt, fingerprint } = await stepped();
    const before = await fingerprint();
    const path = join(dir, 'no', 'such', 'dir', 'opt.safetensors');
    await refusedQuickly(opt.save(path),
      /^AdamW: save\(".*opt\.safetensors"\): could not create a temporary file in the directory ".*no\/such\/dir": it does not exist \(ENOENT\); pass a path in an existing, writable directory/,
      /nothing was written$/);
    await refusedQuickly(opt.load(path),
      /^AdamW: load\(".*opt\.safetensors"\): the checkpoint file ".*opt\.safetensors" does not exist \(ENOENT\); pass the path of a checkpoint file written by save\(\)$/);
    assert.equal(await fingerprint(), before);
  });

  it('an unwritable directory: save() is refused (EACCES, or EROFS on a read-only mount as root); the old checkpoint stays', async (t) => {
    const { opt } = await stepped();
    let directory: string;
    let code: RegExp;
    if (isRoot) {
      // Root writes through permission bits: a read-only mount makes the directory unwritable.
      const mount = tmpfs(t, '1m');
      if (!mount) return;
      await opt.save(join(mount, 'opt.safetensors'));
      execFileSync('mount', ['-o', 'remount,ro', mount]);
      directory = mount;
      code = /it is on a read-only file system \(EROFS\)/;
    } else {
      directory = mkdtempSync(join(dir, 'readonly-'));
      await opt.save(join(directory, 'opt.safetensors'));
      chmodSync(directory, 0o555);
      code = /it is not accessible \(permission denied\) \(EACCES\)/;
    }
    const path = join(directory, 'opt.safetensors');
    const old = readFileSync(path);
    await opt.step();
    await refusedQuickly(opt.save(path), /^AdamW: save\(".*opt\.safetensors"\): could not create a temporary file in the directory/, code, /the previous file is unchanged$/);
    assert.deepEqual(readFileSync(path), old);
    noTemporaryFiles(directory);
    if (!isRoot) chmodSync(directory, 0o755);
  });

  it('a full disk: save() is refused (ENOSPC), the old checkpoint stays and no temporary file is left', async (t) => {
    const mount = tmpfs(t, '64k');
    if (!mount) return;
    const path = join(mount, 'opt.safetensors');
    const small = await stepped(300);
    await small.opt.save(path);
    const old = readFileSync(path);
    const large = await stepped(20_000, 6); // 160 KB of state: more than the 64 KiB disk
    await refusedQuickly(large.opt.save(path),
      /^AdamW: save\(".*opt\.safetensors"\): could not write \d+ bytes into the directory ".*": it is on a full disk \(no space left on the device\) \(ENOSPC\)/,
      /the previous file is unchanged$/);
    assert.deepEqual(readFileSync(path), old);
    noTemporaryFiles(mount);
  });

  it('a full disk under paged state: the step is refused naming the spill file (ENOSPC), not with a bare fs error', async (t) => {
    const mount = tmpfs(t, '64k');
    if (!mount) return;
    const n = 65_536; // 512 KiB of state on a 64 KiB disk
    const opt = new PagedAdamW([{ data: new Float32Array(n).fill(1), grad: new Float32Array(n).fill(0.5) }], { paged: { budgetBytes: 64 * 1024, directory: mount } });
    t.after(() => opt.destroy());
    await refusedQuickly(opt.step(), /^PagedAdamW: paged state: spill file ".*state\.bin": writing page \d+ failed: ENOSPC \(no space left on the device\); the state is lost: put paged.directory on a disk with room for the whole state/);
    opt.destroy();
    assert.deepEqual(readdirSync(mount), []);
  });

  it('a symbolic link to a device (/dev/zero): load() refuses it before reading a byte; save() refuses it too', async () => {
    const { opt, fingerprint } = await stepped();
    const before = await fingerprint();
    const link = join(dir, 'zero.safetensors');
    symlinkSync('/dev/zero', link);
    await refusedQuickly(opt.load(link), /^AdamW: load\(".*zero\.safetensors"\): ".*zero\.safetensors" is a character device, not a regular file; pass the path of a checkpoint file written by save\(\)$/);
    await refusedQuickly(opt.save(link), /^AdamW: save\(".*zero\.safetensors"\): the checkpoint path ".*" is a character device, not a regular file; pass the path of a regular file/);
    assert.equal(await fingerprint(), before);
  });

  it('a FIFO: load() and save() are refused at once instead of waiting for a writer or reader', async () => {
    const { opt, fingerprint } = await stepped();
    const before = await fingerprint();
    const fifo = join(dir, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    await refusedQuickly(opt.load(fifo), /^AdamW: load\(".*pipe\.safetensors"\): ".*" is a FIFO \(named pipe\), not a regular file; pass the path of a checkpoint file written by save\(\)$/);
    await refusedQuickly(opt.save(fifo), /^AdamW: save\(".*pipe\.safetensors"\): the checkpoint path ".*" is a FIFO \(named pipe\), not a regular file/);
    assert.equal(await fingerprint(), before);
  });

  it('a directory: load() and save() say it is a directory', async () => {
    const { opt, fingerprint } = await stepped();
    const before = await fingerprint();
    const directory = join(dir, 'a-directory.safetensors');
    mkdirSync(directory);
    await refusedQuickly(opt.load(directory), /^AdamW: load\(".*a-directory\.safetensors"\): ".*" is a directory, not a regular file/);
    await refusedQuickly(opt.save(directory), /^AdamW: save\(".*a-directory\.safetensors"\): the checkpoint path ".*" is a directory, not a regular file/);
    assert.deepEqual(readdirSync(directory), []);
    assert.equal(await fingerprint(), before);
  });

  it('a file larger than this optimizer\'s checkpoint can be is refused by its size, before it is read', async () => {
    const { opt, fingerprint } = await stepped();
    const before = await fingerprint();
    const path = join(dir, 'huge.safetensors');
    execFileSync('truncate', ['-s', '2G', path]); // sparse: 2 GB that costs nothing on disk
    await refusedQuickly(opt.load(path), /^AdamW: load\(".*huge\.safetensors"\): the file is 2147483648 bytes, more than the \d+ bytes a checkpoint of this optimizer can take/);
    assert.equal(await fingerprint(), before);
  });
});
