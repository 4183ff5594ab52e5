/**
 * adamw-lab/tfjs on tfjs's webgpu backend in chromium (Debian's, SwiftShader WebGPU, the flags of the
 * site test's WebGPU playground check): test/tfjs-webgpu-page.ts, bundled by esbuild with tfjs,
 * tfjs-backend-webgpu and the built package, steps tfjs variables with each class that has a WGSL
 * kernel and the core optimizer on backend 'webgpu' with the same seeded gradients. The results must
 * match bit for bit, the op encoded right after each step must see it, and no step may read back
 * (mapAsync calls counted in the page). Needs `npm run build:lib` (the page imports the package by name).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSync } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, seededNormal } from './helpers.js';
import type { PageCase, PageResult } from './tfjs-webgpu-page.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'];
const BUILT = join(REPO_ROOT, 'dist', 'cjs', 'tfjs', 'index.js');
const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing: apt-get install chromium` : !existsSync(BUILT) ? 'dist/ is missing: run npm run build:lib' : '';

/** A 5000-element kernel (8-bit state), one of 21 elements (not whole quads of 4), a bias. */
const SHAPES = [[50, 100], [7, 3], [33]];
const STEPS = 3;

function pageCase(className: PageCase['className'], options: Record<string, unknown>, seed: number): PageCase {
  const normal = seededNormal(seed);
  const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
  return {
    className, options, shapes: SHAPES,
    initial: SHAPES.map((shape) => Array.from({ length: size(shape) }, () => Math.fround(normal() * 0.5))),
    // Step 2's gradients are 20× larger, so that StableAdamW's clipping engages.
    grads: Array.from({ length: STEPS }, (_, t) => SHAPES.map((shape) => Array.from({ length: size(shape) }, () => Math.fround(normal() * (t === 1 ? 20 : 1))))),
  };
}

describe("adamw-lab/tfjs on tfjs's webgpu backend in chromium (SwiftShader)", { skip: missing || undefined }, () => {
  let server: Server;
  let browser: Browser;
  let page: Page;

  before(async () => {
    const bundle = buildSync({
      entryPoints: [join(REPO_ROOT, 'test', 'tfjs-webgpu-page.ts')], bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'error',
    }).outputFiles[0]!.text;
    server = createServer((request, response) => {
      if (request.url === '/page.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script src="/page.js"></script>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage();
    // http://127.0.0.1 is a secure context, where navigator.gpu exists.
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'runCase' in globalThis);
  });

  after(async () => {
    await browser?.close();
    server?.close();
  });

  const run = (spec: PageCase): Promise<PageResult> =>
    page.evaluate((s) => (globalThis as unknown as { runCase(c: PageCase): Promise<PageResult> }).runCase(s), spec);

  for (const [className, options] of [
    ['AdamW', { lr: 3e-2, weightDecay: 0.1 }],
    ['Adam', { lr: 3e-2, weightDecay: 0.01 }],
    ['AdamW8bit', { lr: 3e-2, weightDecay: 0.1 }],
    ['StableAdamW', { lr: 3e-2, weightDecay: 0.1 }],
  ] as const) {
    it(`${className}: the tfjs variables equal the core ${className} on backend 'webgpu' bit for bit, the next op sees each step, no mapAsync during steps`, async () => {
      const result = await run(pageCase(className, options, 51));
      assert.equal(result.error, undefined);
      assert.equal(result.backend, 'webgpu');
      assert.equal(result.executionPath, "wgsl kernels on tfjs's device, in place (tfjs backend 'webgpu')");
      assert.equal(result.mapAsyncDuringSteps, 0);
      result.coreBits.forEach((expected, i) => {
        assert.deepEqual(result.tfjsBits[i], expected, `${className}: variable of shape [${SHAPES[i]!.join(', ')}]`);
        assert.deepEqual(result.nextOpBits[i], expected, `${className}: the op encoded after the last step, variable ${i}`);
        assert.deepEqual(result.syncBits[i], expected, `${className}: dataSync() after the last step (values were cached before the first), variable ${i}`);
      });
    });
  }

  it('AdamW8bitKahan is refused on webgpu with a clear error, and its variables are unchanged', async () => {
    const spec = pageCase('AdamW8bitKahan', {}, 52);
    const result = await run(spec);
    assert.match(result.error ?? '', /AdamW8bitKahan: applyGradients: tfjs backend 'webgpu' is not supported with Kahan summation/);
    result.tfjsBits.forEach((got, i) => assert.deepEqual(got, Array.from(new Uint32Array(Float32Array.from(spec.initial[i]!).buffer))));
  });
});
