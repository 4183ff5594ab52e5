/**
 * The docs site in a real browser: Debian's chromium driven by playwright-core, against the built
 * site (build/site, from `npm run build` / `npm run site:build`) served by `docusaurus serve`.
 * Checks both locales, math, the language switch, notebook pages, the generated tables, the memory
 * planner against the 100M-param example (400 MB of fp32 weights, 800 MB of AdamW state), the playground running the library, and that no page logs a
 * console error. Screenshots go to build/screenshots/ for a person to look at.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import katex from 'katex';
import { chromium, type Page } from 'playwright-core';
import { notebookFiles } from '../scripts/notebooks/format.js';
import { pageOf } from '../scripts/site/notebooks-to-mdx.js';
import { htmlFiles, katexErrors, writtenPages } from '../scripts/site/prose-checks.js';
import { CHROMIUM, SHOTS, SITE, siteMissing as missing, WEBGPU_FLAGS, siteInChromium } from './site-browser.js';

describe('docs site: every built page', () => {
  // rehype-katex renders math at build time; TeX it cannot parse becomes a red
  // <span class="katex-error"> in the static HTML instead of failing the build, so every page is read.
  it('no KaTeX error on any page of either locale', { skip: !existsSync(join(SITE, 'index.html')) && 'build/site is missing: run npm run build (or npm run site:build)' }, () => {
    const pages = htmlFiles(SITE);
    const korean = pages.filter((p) => p.startsWith(join(SITE, 'ko') + '/'));
    // Both locales, every notebook and every written page in each (the API reference adds more).
    for (const file of notebookFiles()) {
      const { slug } = pageOf(file);
      for (const dir of [SITE, join(SITE, 'ko')]) assert.ok(existsSync(join(dir, 'notebooks', slug, 'index.html')), `${dir}/notebooks/${slug} was not built`);
    }
    const perLocale = notebookFiles().length + writtenPages().length / 2;
    assert.ok(korean.length >= perLocale && pages.length - korean.length >= perLocale, `${pages.length} pages scanned, ${korean.length} Korean: fewer than ${perLocale} per locale`);
    const errors = pages.flatMap((p) => katexErrors(readFileSync(p, 'utf8')).map((e) => `${p.slice(SITE.length)}: ${e}`));
    assert.deepEqual(errors, [], `${errors.length} KaTeX errors in ${pages.length} pages`);
  });

  it('the scan finds a KaTeX error span and names its TeX and message', () => {
    const html = '<p>x <span class="katex-error" title="ParseError: KaTeX parse error: Undefined control sequence: \\heta" style="color:#cc0000">$\\heta &lt; 1$</span></p>';
    assert.deepEqual(katexErrors(html), ['"$\\\\heta < 1$" — ParseError: KaTeX parse error: Undefined control sequence: \\heta']);
    assert.deepEqual(katexErrors('<span style="color:#cc0000" class="katex-error" title="ParseError: x">\\frac{</span>'), ['"\\\\frac{" — ParseError: x']);
    assert.deepEqual(katexErrors('<span class="katex">ok</span>'), []);
    // KaTeX's own markup for TeX it cannot parse, as rehype-katex writes it into the page.
    const [error, ...rest] = katexErrors(katex.renderToString('x = \\frac{a', { throwOnError: false }));
    assert.equal(rest.length, 0);
    assert.match(error!, /^"x = \\\\frac\{a" — ParseError: KaTeX parse error/);
  });
});

describe('docs site in chromium', () => {
  const site = siteInChromium(() => assert.equal(missing, '', missing));
  const consoleErrors: string[] = [];

  async function open(path: string, shot?: string): Promise<Page> {
    const page = await site.browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${path}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${path}: ${e.message}`));
    const response = await page.goto(`${site.base}${path}`, { waitUntil: 'networkidle' });
    assert.equal(response?.status(), 200, `${path} answered ${response?.status()}`);
    if (shot) await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: false });
    return page;
  }

  it('serves both locales, with KaTeX-rendered math', async () => {
    for (const [path, lang, text] of [['/', 'en', 'Install and use'], ['/ko/', 'ko', '설치와 사용']] as const) {
      const page = await open(path, `home-${lang}`);
      assert.equal(await page.getAttribute('html', 'lang'), lang);
      assert.ok((await page.locator('.katex').count()) > 0, `${path}: no .katex element`);
      assert.ok((await page.locator('.katex-error').count()) === 0, `${path}: KaTeX reported an error`);
      await page.getByRole('heading', { name: text }).waitFor();
      // KaTeX's stylesheet is loaded: a fraction's bar gets its border from katex.css.
      const styled = await page.evaluate(() => getComputedStyle(document.querySelector('.katex')!).fontFamily);
      assert.match(styled, /KaTeX_Main/);
      await page.close();
    }
  });

  it('the language switch goes to the same page in the other language', async () => {
    const page = await open('/notebooks/bias-correction');
    await page.locator('.navbar__items--right .dropdown').hover();
    await page.locator('.dropdown__menu a[lang="ko"]').click();
    await page.waitForURL(`${site.base}/ko/notebooks/bias-correction`);
    assert.equal(await page.getAttribute('html', 'lang'), 'ko');
    await page.getByRole('heading', { level: 1 }).filter({ hasText: '편향 보정' }).waitFor();
    await page.close();
  });

  it('every notebook is a page in each locale, with its code, outputs and plots', async () => {
    for (const locale of ['', '/ko']) {
      const page = await open(`${locale}/notebooks/first-moment`, `notebook-01${locale ? '-ko' : ''}`);
      assert.ok((await page.locator('.language-ts').count()) > 0, 'no code cells');
      assert.ok((await page.locator('.nb-output').count()) > 0, 'no text outputs');
      const images = page.locator('.nb-figure img');
      assert.ok((await images.count()) > 0, 'no plots');
      // Images load lazily, so fetch each one rather than waiting for a scroll.
      for (const src of await images.evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).src))) {
        const response = await page.request.get(src);
        assert.equal(response.status(), 200, `${src} answered ${response.status()}`);
        assert.match(await response.text(), /^<svg/, `${src} is not an SVG`);
      }
      const links = await page.locator('a[href$=".ipynb"]').count();
      assert.ok(links > 0, 'no link to the notebook file');
      await page.close();
    }
    const sidebar = await open('/notebooks/memory');
    // Leaf links only: until React hydrates, the category's own label also links to its first notebook
    // (Docusaurus's SSR fallback for readers without JavaScript), so counting every link is racy.
    assert.equal(await sidebar.locator('.theme-doc-sidebar-menu a.menu__link:not(.menu__link--sublist)[href*="/notebooks/"]').count(), 13);
    await sidebar.close();
  });

  it('the variant table comes from the library: AdamW 8 bytes, AdamW8bit 2 + 8/256', async () => {
    const page = await open('/variants', 'variants');
    const rows = page.locator('table.data-table tbody tr');
    assert.equal(await rows.count(), 8);
    const exact = async (label: string): Promise<number> => Number(await page.locator(`tr[data-preset="${label}"] [data-testid="exact-bytes"]`).innerText());
    assert.equal(await exact('AdamW'), 8);
    assert.equal(await exact('AdamW8bit'), Number((2 + 8 / 256).toFixed(3)));
    assert.equal(await exact('AdamW (bf16 params)'), 6);
    await page.close();
  });

  it('the memory planner: 100M params, 400 MB of weights and 800 MB of AdamW state; ZeRO-1 shards the state', async () => {
    const page = await open('/memory-planner', 'memory-planner');
    const planner = page.getByTestId('memory-planner');
    await planner.getByRole('button', { name: '100M' }).click();
    await page.getByTestId('planner-preset').selectOption('AdamW');
    assert.equal(await page.getByTestId('planner-weights').innerText(), '400 MB');
    assert.equal(await page.getByTestId('planner-state').innerText(), '800 MB');
    await page.getByTestId('planner-gpus').fill('4');
    await page.getByTestId('planner-zero1').check();
    assert.equal(await page.getByTestId('planner-state').innerText(), '200 MB');
    assert.equal(await page.getByTestId('planner-weights').innerText(), '400 MB');
    await page.close();
  });

  it('the playground runs the library in the browser, and its plot moves with the sliders', async () => {
    const page = await open('/playground');
    const status = page.getByTestId('playground-status');
    const final = page.getByTestId('playground-final');
    await status.filter({ hasText: /Ran on/ }).waitFor({ timeout: 30_000 });
    assert.match(await status.innerText(), /CPU|WebAssembly|cpu/i);
    const before = await final.innerText();
    const plotBefore = await page.getByTestId('playground-plot').innerHTML();
    assert.match(plotBefore, /<svg/);
    await page.getByTestId('slider-lr').fill('-1');
    await page.waitForFunction((text) => document.querySelector('[data-testid="playground-final"]')?.textContent !== text, before);
    await page.waitForFunction((html) => document.querySelector('[data-testid="playground-plot"]')?.innerHTML !== html, plotBefore);
    await page.screenshot({ path: join(SHOTS, 'playground.png'), fullPage: true });

    // A refused combination shows the library's own error, naming it.
    await page.getByTestId('mode-adam-l2').check();
    await page.getByTestId('toggle-8bit').check();
    const error = page.getByTestId('playground-error');
    await error.waitFor();
    assert.match(await error.innerText(), /L2.*8-?bit|supports only fp32 state/i);
    await page.close();
  });

  it('with WebGPU enabled (SwiftShader), the playground runs on WebGPU and lands where the CPU run lands', async () => {
    const cpu = await open('/playground');
    await cpu.getByTestId('playground-status').filter({ hasText: /Ran on cpu/ }).waitFor({ timeout: 30_000 });
    const cpuFinal = await cpu.getByTestId('playground-final').innerText();
    await cpu.close();
    const gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_FLAGS });
    try {
      const page = await gpuBrowser.newPage();
      page.on('pageerror', (e) => consoleErrors.push(`/playground (webgpu): ${e.message}`));
      let status = '';
      // SwiftShader's GPU process can be slow to start; one reload is allowed before failing.
      for (let attempt = 0; attempt < 2 && !/Ran on webgpu/.test(status); attempt++) {
        await page.goto(`${site.base}/playground`, { waitUntil: 'networkidle' });
        await page.getByTestId('playground-status').filter({ hasText: /Ran on/ }).waitFor({ timeout: 60_000 });
        status = await page.getByTestId('playground-status').innerText();
      }
      assert.match(status, /Ran on webgpu/, status);
      // Same fp32 arithmetic in WGSL and in WebAssembly: the same point after 150 steps.
      assert.equal(await page.getByTestId('playground-final').innerText(), cpuFinal);
      await page.screenshot({ path: join(SHOTS, 'playground-webgpu.png') });
    } finally {
      await gpuBrowser.close();
    }
  });

  it('the Korean playground and the API reference load', async () => {
    const page = await open('/ko/playground', 'playground-ko');
    await page.getByTestId('playground-status').filter({ hasText: /실행한 곳/ }).waitFor({ timeout: 30_000 });
    await page.close();
    // Two entry points, two modules: the index names both; each module page lists its classes.
    const api = await open('/api/', 'api');
    await api.getByText('adamw-lab/tfjs').first().waitFor();
    await api.close();
    const coreModule = await open('/api/modules/adamw-lab.html', 'api-core');
    await coreModule.getByText('AdamW8bit').first().waitFor();
    await coreModule.close();
    const tfjsModule = await open('/api/modules/adamw-lab_tfjs.html', 'api-tfjs');
    await tfjsModule.getByText('TfjsAdamOptimizer').first().waitFor();
    await tfjsModule.close();
  });

  it('no page logged a console error', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
