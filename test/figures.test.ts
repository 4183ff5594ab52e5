/**
 * The notebook pages' interactive figures (site/components/figures/).
 *
 * In Node: each figure's computation against an independent oracle (closed forms, float64
 * recurrences, a nearest-code search, a one-cell run), so a wrong computation fails here.
 * In chromium, on the built site, in both locales: each figure renders, says which backend ran (the
 * default chromium has no WebGPU, so the CPU's WebAssembly kernel), and shows exactly the numbers the
 * same computation gives in Node on backend 'cpu' (the same kernel, so the same bits); moving a
 * control changes the plot and the numbers, to those Node computes for the new setting. One figure
 * also runs on WebGPU (SwiftShader) and must print the CPU's numbers. Screenshots of every figure go
 * to build/screenshots/figure-*.png.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { Adam, AdamW, dynamicMap } from 'adamw-lab';
import {
  BIAS, BLOCKWISE, DECAY, GRID, SPIKE, biasCorrection, biasGradients, blockwiseError, blockwiseTensor, emaKernel, formatNumber, gridProblem, l2VsDecoupled, lrWdGrid,
  squaredError, stableSpike,
} from '../site/components/figures/compute.js';
import { INTERACTIVE_FIGURES } from '../scripts/site/notebooks-to-mdx.js';
import { CHROMIUM, SHOTS, siteMissing, WEBGPU_FLAGS, siteInChromium } from './site-browser.js';

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe('interactive figures: the computations against independent oracles', () => {
  it('ema-kernel: exp_avg after one unit gradient k steps back is (1 − β)βᵏ', async () => {
    for (const beta of [0.5, 0.9, 0.98]) {
      const { value } = await emaKernel(beta, 'cpu');
      for (const k of [0, 1, 5, 30]) assert.ok(relative(value.weights[k]!, (1 - beta) * beta ** k) < 1e-5, `β = ${beta}, k = ${k}: ${value.weights[k]}`);
      assert.equal(value.window, 1 / (1 - beta));
      assert.equal(value.noiseWindow, (1 + beta) / (1 - beta));
      // The newest n = round(1/(1−β)) lags hold Σ_{k<n} (1 − β)βᵏ = 1 − βⁿ ≈ 1 − 1/e of the weight (10 lags at β = 0.9).
      const n = Math.round(1 / (1 - beta));
      if (beta === 0.9) assert.equal(value.windowLags, 10);
      assert.ok(relative(value.massInWindow, 1 - beta ** n) < 1e-5, String(value.massInWindow));
    }
  });

  it('bias-correction: m_t and v_t equal the float64 moving averages of the same gradients', async () => {
    const g = biasGradients();
    for (const [beta1, beta2] of [[0.9, 0.999], [0.6, 0.95]] as const) {
      const { value } = await biasCorrection(beta1, beta2, 'cpu');
      let m = 0, v = 0;
      for (const [i, row] of value.entries()) {
        m = beta1 * m + (1 - beta1) * g[i]!;
        v = beta2 * v + (1 - beta2) * g[i]! ** 2;
        assert.ok(relative(row.m, m) < 1e-5 && relative(row.v, v) < 1e-5, `t = ${row.t}: m ${row.m} vs ${m}, v ${row.v} vs ${v}`);
        assert.equal(row.mHat, row.m / (1 - beta1 ** row.t));
        assert.equal(row.vHat, row.v / (1 - beta2 ** row.t));
      }
    }
  });

  it('l2-vs-decoupled: AdamW moves both coordinates alike, Adam + L2 does not; without λ the two are one optimizer', async () => {
    const final = (rows: Awaited<ReturnType<typeof l2VsDecoupled>>['value'], optimizer: string, coordinate: number): number =>
      rows.find((r) => r.t === DECAY.steps && r.optimizer === optimizer && r.coordinate === coordinate)!.theta;
    const { value } = await l2VsDecoupled(0.3, 'cpu');
    assert.ok(relative(final(value, 'AdamW', 1), final(value, 'AdamW', 0)) < 1e-3, 'AdamW: same θ for both gradient scales');
    assert.ok(final(value, 'Adam + L2', 0) > 0.5 && Math.abs(final(value, 'Adam + L2', 1)) < 0.1, 'Adam + L2: the small-gradient coordinate decays far faster');
    const plain = (await l2VsDecoupled(0, 'cpu')).value;
    for (const c of [0, 1]) assert.equal(final(plain, 'Adam + L2', c), final(plain, 'AdamW', c));
  });

  it('blockwise-error: the codec finds the nearest code, so the error equals a nearest-value search', () => {
    const map = dynamicMap(true);
    for (const outlier of [1, 100]) {
      const rows = blockwiseError(outlier);
      const { x, isOutlier } = blockwiseTensor(outlier);
      for (const row of rows.filter((r) => r.blockSize === 64 || r.blockSize === 1024)) {
        let error = 0, sum = 0;
        for (let start = 0; start < x.length; start += row.blockSize) {
          const block = x.subarray(start, start + row.blockSize);
          const absmax = Math.max(...Array.from(block, Math.abs));
          for (const [i, value] of block.entries()) {
            if (isOutlier[start + i]) continue;
            const scaled = value / absmax;
            const nearest = map.reduce((best, c) => (Math.abs(c - scaled) < Math.abs(best - scaled) ? c : best), map[0]!);
            error += (value - nearest * absmax) ** 2;
            sum += value ** 2;
          }
        }
        assert.ok(relative(row.relativeError, Math.sqrt(error / sum)) < 1e-3, `outlier ${outlier}, block ${row.blockSize}: ${row.relativeError} vs ${Math.sqrt(error / sum)}`);
        assert.equal(row.bytesPerValue, 1 + 4 / row.blockSize);
      }
      // Bigger blocks share an absmax more widely, so the error grows with the block size.
      for (let k = 1; k < rows.length; k++) assert.ok(rows[k]!.relativeError >= rows[k - 1]!.relativeError, `outlier ${outlier}: not monotone at ${rows[k]!.blockSize}`);
    }
    assert.equal(BLOCKWISE.sizes.length, 8);
  });

  it('stable-spike: update clipping shrinks the jump a large spike causes', async () => {
    const { value } = await stableSpike(1000, 'cpu');
    assert.ok(value.jump.AdamW > 3 * value.jump.StableAdamW, JSON.stringify(value.jump));
    // AdamW's step is bounded by η(1 − β1)/√(1 − β2) (Kingma & Ba §2.1), even at a 1000× spike.
    assert.ok(value.jump.AdamW <= (SPIKE.lr * 0.1) / Math.sqrt(0.001), String(value.jump.AdamW));
  });

  it('lr-wd-grid: each cell equals its own single-param run (the grid runs as param groups of one optimizer)', async () => {
    const problem = gridProblem();
    for (const mode of ['adamw', 'adam-l2'] as const) {
      const cells = (await lrWdGrid(mode, 50, 'cpu')).value;
      assert.equal(cells.length, GRID.lrs.length * GRID.weightDecays.length);
      for (const cell of [cells[0]!, cells[20]!, cells[cells.length - 1]!]) {
        const p = { data: Float32Array.from(problem.start), grad: new Float32Array(GRID.features) };
        const options = { lr: cell.lr, weightDecay: cell.weightDecay, backend: 'cpu' as const };
        const opt = mode === 'adamw' ? new AdamW([p], options) : new Adam([p], options);
        for (let t = 0; t < 50; t++) {
          squaredError(problem.xTrain, problem.yTrain, p.data, p.grad);
          await opt.step();
        }
        opt.destroy();
        assert.equal(cell.loss, squaredError(problem.xTest, problem.yTest, p.data), `${mode} η = ${cell.lr}, λ = ${cell.weightDecay}`);
      }
    }
  });
});

/** The numbers a figure shows, by test id, for one setting: what Node's run of the same computation prints. */
type Expected = Record<string, string>;

interface FigureCase {
  name: string;
  /** The notebook page that places it. */
  slug: string;
  expectedAtStart: () => Promise<Expected>;
  /** Move a control; return the numbers the new setting must show. */
  move: (page: Page) => Promise<Expected>;
}

const emaNumbers = async (beta: number): Promise<Expected> => {
  const { value } = await emaKernel(beta, 'cpu');
  return { 'ema-kernel-w0': formatNumber(value.weights[0]!, 6), 'ema-kernel-mass': formatNumber(value.massInWindow), 'ema-kernel-window': formatNumber(value.window), 'ema-kernel-noise-window': formatNumber(value.noiseWindow) };
};
const biasNumbers = async (beta1: number, beta2: number): Promise<Expected> => {
  const row = (await biasCorrection(beta1, beta2, 'cpu')).value[BIAS.readAt - 1]!;
  return { 'bias-correction-m': formatNumber(row.m), 'bias-correction-m-hat': formatNumber(row.mHat), 'bias-correction-v': formatNumber(row.v), 'bias-correction-v-hat': formatNumber(row.vHat) };
};
const decayNumbers = async (lambda: number): Promise<Expected> => {
  const rows = (await l2VsDecoupled(lambda, 'cpu')).value.filter((r) => r.t === DECAY.steps);
  return Object.fromEntries(rows.map((r) => [`l2-vs-decoupled-${r.optimizer === 'AdamW' ? 'adamw' : 'adam-l2'}-${r.coordinate}`, formatNumber(r.theta)]));
};
const blockNumbers = (blockSize: number, outlier: number): Expected => {
  const rows = blockwiseError(outlier);
  const at = (b: number) => rows.find((r) => r.blockSize === b)!;
  return { 'blockwise-error-selected': `${formatNumber(100 * at(blockSize).relativeError, 3)} %`, 'blockwise-error-bytes': formatNumber(at(blockSize).bytesPerValue, 6), 'blockwise-error-at-256': `${formatNumber(100 * at(256).relativeError, 3)} %` };
};
const spikeNumbers = async (spike: number): Promise<Expected> => {
  const { jump } = (await stableSpike(spike, 'cpu')).value;
  return { 'stable-spike-jump-adamw': formatNumber(jump.AdamW), 'stable-spike-jump-stable': formatNumber(jump.StableAdamW), 'stable-spike-ratio': formatNumber(jump.AdamW / jump.StableAdamW, 3) };
};
const gridNumbers = async (mode: 'adamw' | 'adam-l2', steps: number): Promise<Expected> => {
  const cells = (await lrWdGrid(mode, steps, 'cpu')).value;
  const best = cells.reduce((a, b) => (b.loss < a.loss ? b : a));
  return { 'lr-wd-grid-best': `${best.lr}, ${best.weightDecay}`, 'lr-wd-grid-best-loss': formatNumber(best.loss) };
};

const FIGURES: FigureCase[] = [
  { name: 'ema-kernel', slug: 'first-moment', expectedAtStart: () => emaNumbers(0.9), move: async (page) => {
    await page.getByTestId('ema-kernel-beta').fill('0.8');
    return emaNumbers(0.8);
  } },
  { name: 'bias-correction', slug: 'bias-correction', expectedAtStart: () => biasNumbers(0.9, 0.999), move: async (page) => {
    await page.getByTestId('bias-correction-beta1').fill('0.7');
    await page.getByTestId('bias-correction-beta2').fill('0.95');
    return biasNumbers(0.7, 0.95);
  } },
  { name: 'l2-vs-decoupled', slug: 'decoupled-weight-decay', expectedAtStart: () => decayNumbers(0.3), move: async (page) => {
    await page.getByTestId('l2-vs-decoupled-lambda').fill('0.6');
    return decayNumbers(0.6);
  } },
  { name: 'blockwise-error', slug: 'adamw8bit', expectedAtStart: async () => blockNumbers(256, 100), move: async (page) => {
    await page.getByTestId('blockwise-error-block-size').fill('5');
    await page.getByTestId('blockwise-error-outlier').fill('1');
    return blockNumbers(BLOCKWISE.sizes[5], 10);
  } },
  { name: 'stable-spike', slug: 'bf16-kahan-stableadamw', expectedAtStart: () => spikeNumbers(100), move: async (page) => {
    await page.getByTestId('stable-spike-size').fill('3');
    return spikeNumbers(1000);
  } },
  { name: 'lr-wd-grid', slug: 'hyperparameters', expectedAtStart: () => gridNumbers('adamw', 100), move: async (page) => {
    await page.getByTestId('lr-wd-grid-adam-l2').check();
    await page.getByTestId('lr-wd-grid-steps').fill('200');
    return gridNumbers('adam-l2', 200);
  } },
];

/** Wait until every number shows its expected text; then compare, so a mismatch names the number. */
async function expectNumbers(page: Page, expected: Expected, where: string): Promise<void> {
  await page.waitForFunction((want) => Object.entries(want).every(([id, text]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === text), expected, { timeout: 30_000 })
    .catch(() => undefined);
  const shown: Expected = {};
  for (const id of Object.keys(expected)) shown[id] = await page.getByTestId(id).innerText();
  assert.deepEqual(shown, expected, where);
}

describe('interactive figures in chromium', { skip: siteMissing || undefined }, () => {
  const site = siteInChromium();
  const consoleErrors: string[] = [];

  it('covers every registered figure', () => {
    assert.deepEqual(FIGURES.map((f) => f.name).sort(), Object.keys(INTERACTIVE_FIGURES).sort());
  });

  for (const figure of FIGURES) {
    for (const locale of ['', '/ko']) {
      it(`${figure.name}${locale ? ' (ko)' : ''}: runs the library without WebGPU, shows its numbers, and follows its controls`, async () => {
        const path = `${locale}/notebooks/${figure.slug}`;
        const page = await site.browser.newPage({ viewport: { width: 1280, height: 900 } });
        page.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(`${path}: ${m.text()}`);
        });
        page.on('pageerror', (e) => consoleErrors.push(`${path}: ${e.message}`));
        try {
          const response = await page.goto(`${site.base}${path}`, { waitUntil: 'networkidle' });
          assert.equal(response?.status(), 200, `${path} answered ${response?.status()}`);
          const frame = page.getByTestId(figure.name);
          await frame.scrollIntoViewIfNeeded();
          const status = page.getByTestId(`${figure.name}-status`);
          const ran = locale ? /실행한 곳: cpu \(WebAssembly SIMD|8비트 코덱/ : /Ran on cpu \(WebAssembly SIMD|8-bit codec/;
          await status.filter({ hasText: ran }).waitFor({ timeout: 30_000 });
          const statusText = await status.innerText();
          // Why the CPU: this chromium has no WebGPU (or, for the codec, no backend at all).
          assert.match(statusText, locale ? /WebGPU 어댑터\(navigator\.gpu\)가 없어|백엔드를 거치지 않습니다/ : /no WebGPU adapter \(navigator\.gpu\)|no backend is involved/, statusText);
          if (locale) assert.doesNotMatch(statusText, /up to|thread/, `${figure.name}: the Korean status line is in Korean`);
          await expectNumbers(page, await figure.expectedAtStart(), `${path}: at the start`);
          const plot = page.getByTestId(`${figure.name}-plot`);
          const plotBefore = await plot.innerHTML();
          assert.match(plotBefore, /<svg/);
          await frame.screenshot({ path: join(SHOTS, `figure-${figure.name}${locale ? '-ko' : ''}.png`) });

          const expected = await figure.move(page);
          await expectNumbers(page, expected, `${path}: after moving a control`);
          await page.waitForFunction(([id, html]) => document.querySelector(`[data-testid="${id}"]`)?.innerHTML !== html, [`${figure.name}-plot`, plotBefore], { timeout: 30_000 });
          assert.notEqual(await plot.innerHTML(), plotBefore, 'the plot did not change');
          await frame.screenshot({ path: join(SHOTS, `figure-${figure.name}${locale ? '-ko' : ''}-moved.png`) });
        } finally {
          await page.close();
        }
      });
    }
  }

  it('with WebGPU (SwiftShader) the EMA kernel runs on WebGPU and prints the CPU run\'s numbers', async () => {
    const gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_FLAGS });
    try {
      const page = await gpuBrowser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (e) => consoleErrors.push(`first-moment (webgpu): ${e.message}`));
      let status = '';
      // SwiftShader's GPU process can be slow to start; one reload is allowed before failing.
      for (let attempt = 0; attempt < 2 && !/Ran on webgpu/.test(status); attempt++) {
        await page.goto(`${site.base}/notebooks/first-moment`, { waitUntil: 'networkidle' });
        await page.getByTestId('ema-kernel').scrollIntoViewIfNeeded();
        await page.getByTestId('ema-kernel-status').filter({ hasText: /Ran on/ }).waitFor({ timeout: 60_000 });
        status = await page.getByTestId('ema-kernel-status').innerText();
      }
      assert.match(status, /Ran on webgpu.*WebGPU and the options have a WGSL kernel/, status);
      await expectNumbers(page, await emaNumbers(0.9), 'webgpu');
      await page.getByTestId('ema-kernel').screenshot({ path: join(SHOTS, 'figure-ema-kernel-webgpu.png') });
    } finally {
      await gpuBrowser.close();
    }
  });

  it('no figure page logged a console error', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
