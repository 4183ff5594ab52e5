/** Test hygiene: the temp folders tests make are gone when the test process exits. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO_ROOT } from './helpers.js';

it('scratchDirectory: the folder and what was written in it are removed when the process exits', () => {
  const script = `
    const { writeFileSync, mkdirSync } = require('node:fs');
    const { scratchDirectory } = require(${JSON.stringify(join(REPO_ROOT, 'test/helpers.ts'))});
    const directory = scratchDirectory('adamw-lab-scratch-');
    mkdirSync(directory + '/nested');
    writeFileSync(directory + '/nested/file.bin', new Uint8Array(1024));
    console.log(directory);`;
  const directory = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  assert.match(directory, /adamw-lab-scratch-/);
  assert.equal(existsSync(directory), false, `${directory} outlived the process`);
});
