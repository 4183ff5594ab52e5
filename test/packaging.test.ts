/**
 * The built package imports three ways (ESM, CommonJS, and by its own name from inside the repo), its
 * types resolve under both Node10 and NodeNext resolution, and a tslab cell in notebooks/ type-checks
 * and runs `import { AdamW } from 'adamw-lab'`. Needs `npm run build:lib` first (npm test does it).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers.js';

const SNIPPET_BODY = `
const p = { data: new Float32Array([1]), grad: new Float32Array([0.5]) };
const opt = new AdamW([p]);
await opt.step();
console.log(new Uint32Array(p.data.buffer)[0].toString(16));`;
const EXPECTED = '3f7fbdcf'; // PyTorch AdamW, one step from p = 1 with g = 0.5 (test/oracles.test.ts): fp32 bits 0x3F7FBDCF

function node(args: string[], cwd: string): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' }).trim();
}

describe('packaging', () => {
  it('the build exists', () => assert.ok(existsSync(join(REPO_ROOT, 'dist/cjs/index.js')), 'run npm run build:lib first'));

  for (const dir of ['.', 'notebooks', 'test']) {
    it(`ESM import by package name from ${dir}/`, () => {
      const out = node(['--input-type=module', '-e', `import { AdamW } from 'adamw-lab';${SNIPPET_BODY}`], join(REPO_ROOT, dir));
      assert.equal(out, EXPECTED);
    });
    it(`CommonJS require by package name from ${dir}/`, () => {
      const out = node(['-e', `const { AdamW } = require('adamw-lab'); (async () => {${SNIPPET_BODY}})();`], join(REPO_ROOT, dir));
      assert.equal(out, EXPECTED);
    });
  }

  it('VERSION, written into checkpoints, is package.json\'s version', async () => {
    const { VERSION } = await import('../src/index.js');
    assert.equal(VERSION, (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('ESM and CommonJS share one copy of the library', () => {
    const out = node(['--input-type=module', '-e', `import { AdamW } from 'adamw-lab'; import { createRequire } from 'node:module';
      console.log(AdamW === createRequire(import.meta.url)('adamw-lab').AdamW);`], REPO_ROOT);
    assert.equal(out, 'true');
  });

  it('no import.meta in the CommonJS build, and the browser build swaps out worker_threads', () => {
    const files = readdirSync(join(REPO_ROOT, 'dist/cjs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    for (const f of files) assert.ok(!readFileSync(join(REPO_ROOT, 'dist/cjs', f), 'utf8').includes('import.meta'), f);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { browser: Record<string, string> };
    for (const [from, to] of Object.entries(pkg.browser)) {
      assert.ok(existsSync(join(REPO_ROOT, from)) && existsSync(join(REPO_ROOT, to)), `${from} -> ${to}`);
      assert.ok(!readFileSync(join(REPO_ROOT, to), 'utf8').includes('worker_threads'));
    }
  });

  for (const [resolution, file, module] of [['node10', 'consumer.ts', 'commonjs'], ['nodenext', 'consumer.mts', 'nodenext']] as const) {
    it(`types resolve for a consumer with ${resolution} resolution`, () => {
      const dir = join(REPO_ROOT, 'build', `consumer-${resolution}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), `import { AdamW, type Param, type StateDict } from 'adamw-lab';
const p: Param = { data: new Float32Array(3), grad: new Float32Array(3) };
const opt = new AdamW([p], { lr: 1e-3, betas: [0.9, 0.999] });
const sd: StateDict = opt.stateDict();
// @ts-expect-error lr must be a number
new AdamW([p], { lr: 'fast' });
export const used = [sd];
`);
      const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
      node([tsc, '--noEmit', '--strict', '--skipLibCheck', '--types', 'node', '--module', module, '--moduleResolution', resolution, '--target', 'es2022', '--lib', 'es2022,dom', join(dir, file)], dir);
    });
  }

  it('a tslab cell in notebooks/ type-checks and runs `import { AdamW } from "adamw-lab"`', () => {
    const script = `
const { createConverter } = require('tslab/dist/converter');
const { createExecutor } = require('tslab/dist/executor');
const node = createConverter({ isBrowser: false }), browser = createConverter({ isBrowser: true });
const lines = [];
const executor = createExecutor(process.cwd(), { node, browser, close() { node.close(); browser.close(); } },
  { log: (...a) => lines.push(a.join(' ')), error: (...a) => lines.push('ERROR ' + a.join(' ')) });
executor.execute(${JSON.stringify(`import { AdamW } from 'adamw-lab';${SNIPPET_BODY}\nconst bits: string = '${EXPECTED}';`)})
  .then((ok) => { console.log(JSON.stringify({ ok, lines })); executor.close(); });`;
    // The cell's console.log goes to stdout, before the summary line.
    const stdout = node(['-e', script], join(REPO_ROOT, 'notebooks')).split('\n');
    const out = JSON.parse(stdout.pop()!) as { ok: boolean; lines: string[] };
    assert.deepEqual(out, { ok: true, lines: [] });
    assert.deepEqual(stdout, [EXPECTED]);
  });

  it('a type error in a tslab cell is reported (so the check above can fail)', () => {
    const script = `
const { createConverter } = require('tslab/dist/converter');
const { createExecutor } = require('tslab/dist/executor');
const node = createConverter({ isBrowser: false }), browser = createConverter({ isBrowser: true });
const lines = [];
const executor = createExecutor(process.cwd(), { node, browser, close() { node.close(); browser.close(); } },
  { log: (...a) => lines.push(a.join(' ')), error: (...a) => lines.push(a.join(' ')) });
executor.execute("import { AdamW } from 'adamw-lab'; new AdamW([], { lr: 'fast' });")
  .then((ok) => { console.log(JSON.stringify({ ok, lines })); executor.close(); });`;
    const out = JSON.parse(node(['-e', script], join(REPO_ROOT, 'notebooks')).split('\n').pop()!) as { ok: boolean; lines: string[] };
    assert.equal(out.ok, false);
    assert.ok(out.lines.join('\n').includes("Type 'string' is not assignable to type 'number'"), out.lines.join('\n'));
  });
});
