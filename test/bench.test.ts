/**
 * Every benchmark the README names runs to the end at a tiny size (`--smoke`), prints min, median and
 * max, and writes its JSON to the directory it is given, never to the published site/data/bench/.
 * A benchmark nothing runs rots: this is what runs them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { REPO_ROOT, needsWebGpuAdapter } from './helpers.js';

const PUBLISHED = join(REPO_ROOT, 'site', 'data', 'bench');
const outDir = mkdtempSync(join(tmpdir(), 'adamw-lab-bench-smoke-'));
after(() => rmSync(outDir, { recursive: true, force: true }));

/** SHA-256 of each published results file, to prove a smoke run leaves them alone. */
function publishedHashes(): Record<string, string> {
  return Object.fromEntries(readdirSync(PUBLISHED).map((f) => [f, createHash('sha256').update(readFileSync(join(PUBLISHED, f))).digest('hex')]));
}

/** Run `bench/<script>.ts --smoke --out=<temp>`; returns its stdout and the JSON it wrote. */
async function smokeRun(script: string, file: string): Promise<{ stdout: string; json: Record<string, unknown> }> {
  const before = publishedHashes();
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', `${script}.ts`), '--smoke', `--out=${outDir}`], {
    cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 24, timeout: 120_000,
  });
  assert.deepEqual(publishedHashes(), before, 'a smoke run must not touch site/data/bench/');
  return { stdout, json: JSON.parse(readFileSync(join(outDir, file), 'utf8')) as Record<string, unknown> };
}

/** Every `{ min, median, max }`-shaped triple in the JSON is ordered, and there is at least one. */
function assertOrderedTriples(value: unknown, keys: [string, string, string]): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + assertOrderedTriples(v, keys), 0);
  if (value === null || typeof value !== 'object') return 0;
  const o = value as Record<string, unknown>;
  let found = 0;
  if (keys.every((k) => typeof o[k] === 'number')) {
    const [lo, mid, hi] = keys.map((k) => o[k] as number);
    assert.ok(lo! > 0 && lo! <= mid! && mid! <= hi!, `${keys.join(' <= ')} in ${JSON.stringify(o)}`);
    found++;
  }
  return found + Object.values(o).reduce((n: number, v) => n + assertOrderedTriples(v, keys), 0);
}

function assertProvenance(json: Record<string, unknown>, script: string): void {
  assert.equal(json.command, `npm run ${script} -- --smoke --out=${outDir}`);
  assert.equal(json.smoke, true);
  assert.match(String(json.date), /^\d{4}-\d\d-\d\dT/);
  assert.equal(typeof json.cpu, 'string');
  assert.equal(json.node, process.version);
}

/** The tables print each timing as `median ms [min–max]`, with the header saying so. */
const TIMING = /\d+\.\d+ ms \[\d+\.\d+–\d+\.\d+\]/;

test('npm run bench runs to the end at a tiny size: min/median/max per path, plain arrays, the native peer', async () => {
  const { stdout, json } = await smokeRun('cpu', 'cpu.json');
  assertProvenance(json, 'bench');
  assert.match(stdout, /median \[min–max\]/);
  assert.match(stdout, TIMING);
  const results = json.results as Array<{ path: string }>;
  assert.ok(results.some((r) => r.path === 'js reference loop'), 'the js path ran (it used to crash on the threads option)');
  assert.ok(assertOrderedTriples(results, ['minSeconds', 'medianSeconds', 'maxSeconds']) === results.length);
  const plain = json.plainArrays as { ofCopyLimit: unknown; overCreateParam: unknown };
  assert.equal(assertOrderedTriples(plain, ['min', 'median', 'max']), 2);
  const native = json.native as { skipped?: string; check?: { maxUlps: number }; results?: unknown[] };
  if (native.skipped) {
    assert.match(stdout, /native peer: skipped/);
  } else {
    assert.ok(native.check!.maxUlps <= 8);
    // Each size × thread count: the native timing and our step / native step, both ordered triples.
    assert.equal(assertOrderedTriples(native.results, ['min', 'median', 'max']), 2 * native.results!.length);
    assert.ok(native.results!.length >= 2);
  }
});

test('npm run bench:variants runs to the end at a tiny size: min/median/max of both steps and of their ratio', async () => {
  const { stdout, json } = await smokeRun('variants', 'variants.json');
  assertProvenance(json, 'bench:variants');
  assert.match(stdout, TIMING);
  assert.equal(assertOrderedTriples(json.steps, ['min', 'median', 'max']), (json.steps as unknown[]).length);
  assert.ok(assertOrderedTriples(json.eightBitOverFp32, ['min', 'median', 'max']) >= 1);
  assert.ok((json.memory as unknown[]).length >= 7, 'every preset measured');
});

test('npm run bench:gpu runs to the end at a tiny size (SwiftShader without a GPU): min/median/max', async (t: TestContext) => {
  if (!(await needsWebGpuAdapter(t))) return;
  const { stdout, json } = await smokeRun('gpu', 'gpu.json');
  assertProvenance(json, 'bench:gpu');
  assert.match(stdout, TIMING);
  const webgpu = json.webgpu as unknown[];
  assert.equal(webgpu.length, 3);
  assert.equal(assertOrderedTriples(webgpu, ['kernelMinS', 'kernelMedianS', 'kernelMaxS']), 3);
  assert.equal(assertOrderedTriples(webgpu, ['hostStepMinS', 'hostStepMedianS', 'hostStepMaxS']), 3);
  assert.ok(assertOrderedTriples(json.onnx, ['minS', 'medianS', 'maxS']) >= 2);
});
