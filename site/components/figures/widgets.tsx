// The six interactive figures of the notebook pages. Each runs adamw-lab in the reader's browser
// (compute.ts), draws with Vega-Lite and prints its key numbers with test ids; test/figures.test.ts
// checks those numbers against the same computations run in Node.
import React, { useState } from 'react';
import type { TopLevelSpec } from 'vega-lite';
import { useStrings } from '../locale';
import {
  BIAS, BLOCKWISE, DECAY, EMA_LAGS, GRID, SPIKE, biasCorrection, blockwiseError, emaKernel, formatNumber, l2VsDecoupled, lrWdGrid, runPreferringWebGpu, stableSpike,
  type BiasRow, type BlockwiseRow, type DecayRow, type EmaKernel, type GridCell, type Outcome, type SpikeRun,
} from './compute';
import { FigureFrame, KeyNumber, Slider, useRun } from './kit';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** Plot size: it sits beside its numbers in the docs' content column. */
const WIDTH = 340;
const HEIGHT = 240;
const BLUE = '#2e5f8a';
const ORANGE = '#e07b39';
const RED = '#c0392b';

// ---------------------------------------------------------------------------------------------

const EMA_STRINGS = {
  en: {
    beta: 'β (momentum)', lag: 'steps back, k', weight: 'weight in m',
    title: 'Weight of the gradient k steps back: (1 − β)βᵏ', window: '1/(1 − β)', noiseWindow: '(1 + β)/(1 − β)',
    w0: 'w₀ = 1 − β (exp_avg):', mass: (n: number) => `share of the weight in the newest ${n} gradients, ≈ 1/(1 − β):`, windowLabel: 'time constant 1/(1 − β):', noiseLabel: 'noise window (1 + β)/(1 − β):',
  },
  ko: {
    beta: 'β(모멘텀)', lag: '몇 스텝 전인가, k', weight: 'm에 실린 가중치',
    title: 'k스텝 전 기울기의 가중치: (1 − β)βᵏ', window: '1/(1 − β)', noiseWindow: '(1 + β)/(1 − β)',
    w0: 'w₀ = 1 − β(exp_avg):', mass: (n: number) => `최근 기울기 ${n}개(≈ 1/(1 − β))에 실린 가중치 비율:`, windowLabel: '시간 상수 1/(1 − β):', noiseLabel: '잡음 기준 창 (1 + β)/(1 − β):',
  },
};

/** Notebook 01: the EMA weight kernel, read from the library's exp_avg, with both windows marked. */
export function EmaKernelWidget(): React.ReactElement {
  const t = useStrings(EMA_STRINGS);
  const [beta, setBeta] = useState(0.9);
  const { outcome, busy } = useRun(() => runPreferringWebGpu((b) => emaKernel(beta, b)), [beta]);
  // Three noise windows of lags, so the kernel fills the plot at every β (at most the EMA_LAGS read).
  const shown = (k: EmaKernel): number => Math.min(EMA_LAGS, Math.max(20, Math.ceil(3 * k.noiseWindow)));
  const spec = (k: EmaKernel): TopLevelSpec => ({
    $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: t.title,
    layer: [
      { data: { values: k.weights.slice(0, shown(k)).map((w, lag) => ({ lag, w })) }, mark: { type: 'area', color: BLUE, opacity: 0.35, line: { color: BLUE } },
        encoding: { x: { field: 'lag', type: 'quantitative', title: t.lag, scale: { domain: [0, shown(k) - 1], nice: false } }, y: { field: 'w', type: 'quantitative', title: t.weight } } },
      // The two windows as dashed rules, labelled at the top (y in pixels, one label under the other).
      { data: { values: [{ at: k.window, label: t.window, top: 4 }, { at: k.noiseWindow, label: t.noiseWindow, top: 20 }] },
        encoding: { x: { field: 'at', type: 'quantitative' }, color: { field: 'label', type: 'nominal', scale: { range: [ORANGE, RED] }, legend: null } },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 3], strokeWidth: 1.5 } },
          { mark: { type: 'text', align: 'left', dx: 4, baseline: 'top', fontWeight: 'bold' }, encoding: { y: { field: 'top', type: 'quantitative', scale: null }, text: { field: 'label' } } },
        ] },
    ],
  });
  return (
    <FigureFrame id="ema-kernel" outcome={outcome} busy={busy} spec={spec}
      controls={<Slider label={t.beta} value={beta} min={0.5} max={0.98} step={0.01} onChange={setBeta} testId="ema-kernel-beta" />}
      numbers={(k) => (
        <>
          <KeyNumber label={t.w0} value={formatNumber(k.weights[0]!, 6)} testId="ema-kernel-w0" />
          <KeyNumber label={t.mass(k.windowLags)} value={formatNumber(k.massInWindow, 4)} testId="ema-kernel-mass" />
          <KeyNumber label={t.windowLabel} value={formatNumber(k.window, 4)} testId="ema-kernel-window" />
          <KeyNumber label={t.noiseLabel} value={formatNumber(k.noiseWindow, 4)} testId="ema-kernel-noise-window" />
        </>
      )} />
  );
}

// ---------------------------------------------------------------------------------------------

const BIAS_STRINGS = {
  en: {
    beta1: 'β1', beta2: 'β2', step: 'step t', raw: 'raw (m_t, v_t)', corrected: 'corrected (÷ (1 − βᵗ))', truth: 'true E[g], E[g²]',
    first: 'first moment m', second: 'second moment v', title: `g_t = ${BIAS.mean} + ${BIAS.sigma}·noise`,
    at: (k: number) => `at t = ${k}:`,
  },
  ko: {
    beta1: 'β1', beta2: 'β2', step: '스텝 t', raw: '보정 전(m_t, v_t)', corrected: '보정 후(÷ (1 − βᵗ))', truth: '참값 E[g], E[g²]',
    first: '1차 모멘트 m', second: '2차 모멘트 v', title: `g_t = ${BIAS.mean} + ${BIAS.sigma}·잡음`,
    at: (k: number) => `t = ${k}에서:`,
  },
};

/** Notebook 03: m_t and v_t of the library, raw and bias-corrected, against the true moments. */
export function BiasCorrectionWidget(): React.ReactElement {
  const t = useStrings(BIAS_STRINGS);
  const [beta1, setBeta1] = useState(0.9);
  const [beta2, setBeta2] = useState(0.999);
  const { outcome, busy } = useRun(() => runPreferringWebGpu((b) => biasCorrection(beta1, beta2, b)), [beta1, beta2]);
  const secondMoment = BIAS.mean ** 2 + BIAS.sigma ** 2;
  const spec = (rows: BiasRow[]): TopLevelSpec => ({
    $schema: SCHEMA, title: t.title,
    data: { values: rows.flatMap((r) => [
      { t: r.t, moment: t.first, kind: t.raw, value: r.m }, { t: r.t, moment: t.first, kind: t.corrected, value: r.mHat }, { t: r.t, moment: t.first, kind: t.truth, value: BIAS.mean },
      { t: r.t, moment: t.second, kind: t.raw, value: r.v }, { t: r.t, moment: t.second, kind: t.corrected, value: r.vHat }, { t: r.t, moment: t.second, kind: t.truth, value: secondMoment },
    ]) },
    facet: { row: { field: 'moment', type: 'nominal', title: null, sort: [t.first, t.second] } },
    spec: {
      width: WIDTH, height: 120,
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: t.step },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'kind', type: 'nominal', title: null, sort: [t.raw, t.corrected, t.truth], scale: { range: [ORANGE, BLUE, '#555'] } },
        strokeDash: { field: 'kind', type: 'nominal', sort: [t.raw, t.corrected, t.truth], scale: { range: [[1, 0], [1, 0], [4, 3]] }, legend: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { legend: { orient: 'bottom', labelLimit: 260 } },
  });
  const at = (rows: BiasRow[]): BiasRow => rows[BIAS.readAt - 1]!;
  return (
    <FigureFrame id="bias-correction" outcome={outcome} busy={busy} spec={spec}
      controls={<>
        <Slider label={t.beta1} value={beta1} min={0.5} max={0.99} step={0.01} onChange={setBeta1} testId="bias-correction-beta1" />
        <Slider label={t.beta2} value={beta2} min={0.9} max={0.9999} step={0.0001} onChange={setBeta2} testId="bias-correction-beta2" />
      </>}
      numbers={(rows) => (
        <>
          <p className="key-heading">{t.at(BIAS.readAt)}</p>
          <KeyNumber label="m_t =" value={formatNumber(at(rows).m)} testId="bias-correction-m" />
          <KeyNumber label="m̂_t =" value={formatNumber(at(rows).mHat)} testId="bias-correction-m-hat" />
          <KeyNumber label="v_t =" value={formatNumber(at(rows).v)} testId="bias-correction-v" />
          <KeyNumber label="v̂_t =" value={formatNumber(at(rows).vHat)} testId="bias-correction-v-hat" />
          <KeyNumber label="E[g], E[g²] =" value={`${BIAS.mean}, ${secondMoment}`} testId="bias-correction-truth" />
        </>
      )} />
  );
}

// ---------------------------------------------------------------------------------------------

const DECAY_STRINGS = {
  en: {
    lambda: 'weight decay λ', step: 'step t', theta: 'θ', title: `θ₀ = 1, gradient scales ${DECAY.scales[0]} and ${DECAY.scales[1]}, η = ${DECAY.lr}`,
    coordinate: (i: number) => `gradient scale ${DECAY.scales[i]}`, final: (name: string, i: number) => `${name}, scale ${DECAY.scales[i]}: θ_${DECAY.steps} =`,
  },
  ko: {
    lambda: '가중치 감쇠 λ', step: '스텝 t', theta: 'θ', title: `θ₀ = 1, 기울기 크기 ${DECAY.scales[0]} / ${DECAY.scales[1]}, η = ${DECAY.lr}`,
    coordinate: (i: number) => `기울기 크기 ${DECAY.scales[i]}`, final: (name: string, i: number) => `${name}, 크기 ${DECAY.scales[i]}: θ_${DECAY.steps} =`,
  },
};

/** Notebook 04: Adam with λ as L2 against AdamW, on two coordinates whose gradients differ 1000-fold. */
export function L2VsDecoupledWidget(): React.ReactElement {
  const t = useStrings(DECAY_STRINGS);
  const [lambda, setLambda] = useState(0.3);
  const { outcome, busy } = useRun(() => runPreferringWebGpu((b) => l2VsDecoupled(lambda, b)), [lambda]);
  const spec = (rows: DecayRow[]): TopLevelSpec => ({
    $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: t.title,
    data: { values: rows.map((r) => ({ ...r, scale: t.coordinate(r.coordinate) })) },
    mark: { type: 'line', strokeWidth: 2 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: t.step },
      y: { field: 'theta', type: 'quantitative', title: t.theta },
      color: { field: 'optimizer', type: 'nominal', title: null, scale: { range: [BLUE, ORANGE] } },
      strokeDash: { field: 'scale', type: 'nominal', title: null, scale: { range: [[1, 0], [5, 3]] } },
      detail: [{ field: 'optimizer' }, { field: 'scale' }],
    },
    config: { legend: { orient: 'bottom', direction: 'vertical', labelLimit: 260 } },
  });
  const final = (rows: DecayRow[], optimizer: DecayRow['optimizer'], coordinate: 0 | 1): number =>
    rows.find((r) => r.t === DECAY.steps && r.optimizer === optimizer && r.coordinate === coordinate)!.theta;
  return (
    <FigureFrame id="l2-vs-decoupled" outcome={outcome} busy={busy} spec={spec}
      controls={<Slider label={t.lambda} value={lambda} min={0} max={1} step={0.05} onChange={setLambda} testId="l2-vs-decoupled-lambda" />}
      numbers={(rows) => (
        <>
          {(['AdamW', 'Adam + L2'] as const).flatMap((name) => ([0, 1] as const).map((i) => (
            <KeyNumber key={`${name}${i}`} label={t.final(name, i)} value={formatNumber(final(rows, name, i))} testId={`l2-vs-decoupled-${name === 'AdamW' ? 'adamw' : 'adam-l2'}-${i}`} />
          )))}
        </>
      )} />
  );
}

// ---------------------------------------------------------------------------------------------

const BLOCK_STRINGS = {
  en: {
    blockSize: 'block size', outlier: 'outlier size (× a typical value)', error: 'relative RMS error of the ordinary values (%)', size: 'block size (values per absmax)',
    title: `${BLOCKWISE.length} normal values, ${BLOCKWISE.outliers} of them outliers`, selected: (b: number) => `error at block size ${b}:`, bytes: 'bytes per value (code + absmax share):', at256: 'error at 256 (bitsandbytes):',
  },
  ko: {
    blockSize: '블록 크기', outlier: '이상치 크기(일반 값의 배수)', error: '일반 값의 상대 RMS 오차(%)', size: '블록 크기(absmax 하나당 값의 수)',
    title: `정규분포 값 ${BLOCKWISE.length}개, 그중 이상치 ${BLOCKWISE.outliers}개`, selected: (b: number) => `블록 크기 ${b}의 오차:`, bytes: '값 하나당 바이트(코드 + absmax 몫):', at256: '256(bitsandbytes)의 오차:',
  },
};

/** Notebook 07: the 8-bit blockwise error of the library's codec against block size, with outliers. */
export function BlockwiseErrorWidget(): React.ReactElement {
  const t = useStrings(BLOCK_STRINGS);
  const [sizeIndex, setSizeIndex] = useState(3);
  const [outlier, setOutlier] = useState(100);
  const blockSize = BLOCKWISE.sizes[sizeIndex]!;
  // The codec is plain JavaScript: no backend to choose, so the outcome says so.
  const { outcome, busy } = useRun(async (): Promise<Outcome<BlockwiseRow[]>> => ({ ok: true, value: blockwiseError(outlier), backend: 'JavaScript', reason: 'codec' }), [outlier]);
  const percent = (x: number): string => formatNumber(100 * x, 3);
  const spec = (rows: BlockwiseRow[]): TopLevelSpec => ({
    $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: t.title,
    data: { values: rows.map((r) => ({ ...r, percent: 100 * r.relativeError, chosen: r.blockSize === blockSize })) },
    encoding: {
      x: { field: 'blockSize', type: 'quantitative', title: t.size, scale: { type: 'log', base: 2 }, axis: { values: [...BLOCKWISE.sizes], labelAngle: 0, format: 'd' } },
      y: { field: 'percent', type: 'quantitative', title: t.error, scale: { zero: true } },
    },
    layer: [
      { mark: { type: 'line', color: BLUE, point: { color: BLUE } } },
      { transform: [{ filter: 'datum.chosen' }], mark: { type: 'point', size: 160, filled: true, color: ORANGE } },
    ],
  });
  return (
    <FigureFrame id="blockwise-error" outcome={outcome} busy={busy} spec={spec}
      controls={<>
        <Slider label={t.blockSize} value={sizeIndex} min={0} max={BLOCKWISE.sizes.length - 1} step={1} onChange={setSizeIndex} format={(i) => String(BLOCKWISE.sizes[i])} testId="blockwise-error-block-size" />
        <Slider label={t.outlier} value={outlier} min={0} max={3} step={0.25} log format={(v) => formatNumber(v, 3)} onChange={setOutlier} testId="blockwise-error-outlier" />
      </>}
      numbers={(rows) => {
        const chosen = rows.find((r) => r.blockSize === blockSize)!;
        return (
          <>
            <KeyNumber label={t.selected(blockSize)} value={`${percent(chosen.relativeError)} %`} testId="blockwise-error-selected" />
            <KeyNumber label={t.bytes} value={formatNumber(chosen.bytesPerValue, 6)} testId="blockwise-error-bytes" />
            <KeyNumber label={t.at256} value={`${percent(rows.find((r) => r.blockSize === 256)!.relativeError)} %`} testId="blockwise-error-at-256" />
          </>
        );
      }} />
  );
}

// ---------------------------------------------------------------------------------------------

const SPIKE_STRINGS = {
  en: {
    spike: 'spike size (× the usual gradient)', step: 'step t', size: 'step size |Δθ[0]| (log scale)', title: `Step sizes; one gradient spike at step ${SPIKE.spikeAt}, η = ${SPIKE.lr}`,
    jump: (name: string) => `${name}, jump at the spike:`, ratio: 'AdamW jump ÷ StableAdamW jump:',
  },
  ko: {
    spike: '스파이크 크기(평소 기울기의 배수)', step: '스텝 t', size: '스텝 크기 |Δθ[0]|(로그 축)', title: `스텝 크기: ${SPIKE.spikeAt}번째 스텝에 기울기 스파이크 한 번, η = ${SPIKE.lr}`,
    jump: (name: string) => `${name}, 스파이크에서 움직인 폭:`, ratio: 'AdamW 폭 ÷ StableAdamW 폭:',
  },
};

/** Notebook 09: AdamW against StableAdamW (update clipping) on a run with one gradient spike. */
export function StableSpikeWidget(): React.ReactElement {
  const t = useStrings(SPIKE_STRINGS);
  const [spike, setSpike] = useState(100);
  const { outcome, busy } = useRun(() => runPreferringWebGpu((b) => stableSpike(spike, b)), [spike]);
  const spec = (run: SpikeRun): TopLevelSpec => ({
    $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: t.title,
    layer: [
      // |θ_t − θ_{t−1}| of coordinate 0, step by step: the spike's step stands out, clipped or not.
      { data: { values: (['AdamW', 'StableAdamW'] as const).flatMap((name) => run.theta[name].slice(1).map((theta, k) => ({ step: k + 1, size: Math.abs(theta - run.theta[name][k]!), name }))).filter((r) => r.size > 0) },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { x: { field: 'step', type: 'quantitative', title: t.step }, y: { field: 'size', type: 'quantitative', title: t.size, scale: { type: 'log' } }, color: { field: 'name', type: 'nominal', title: null, scale: { range: [ORANGE, BLUE] } } } },
      { data: { values: [{ step: SPIKE.spikeAt }] }, mark: { type: 'rule', strokeDash: [4, 3], color: RED }, encoding: { x: { field: 'step', type: 'quantitative' } } },
    ],
    config: { legend: { orient: 'bottom' } },
  });
  return (
    <FigureFrame id="stable-spike" outcome={outcome} busy={busy} spec={spec}
      controls={<Slider label={t.spike} value={spike} min={0} max={3} step={0.25} log format={(v) => formatNumber(v, 3)} onChange={setSpike} testId="stable-spike-size" />}
      numbers={(run) => (
        <>
          <KeyNumber label={t.jump('AdamW')} value={formatNumber(run.jump.AdamW)} testId="stable-spike-jump-adamw" />
          <KeyNumber label={t.jump('StableAdamW')} value={formatNumber(run.jump.StableAdamW)} testId="stable-spike-jump-stable" />
          <KeyNumber label={t.ratio} value={formatNumber(run.jump.AdamW / run.jump.StableAdamW, 3)} testId="stable-spike-ratio" />
        </>
      )} />
  );
}

// ---------------------------------------------------------------------------------------------

const GRID_STRINGS = {
  en: {
    optimizer: 'Optimizer', adamw: 'AdamW (decoupled λ)', adamL2: 'Adam + L2 (λθ added to the gradient)', steps: 'steps', lr: 'learning rate η', wd: 'weight decay λ', loss: 'held-out loss',
    title: (steps: number) => `Held-out loss after ${steps} steps (least squares, ${GRID.train} training samples)`, best: 'best cell: η, λ =', bestLoss: 'its held-out loss:',
  },
  ko: {
    optimizer: '옵티마이저', adamw: 'AdamW(분리된 λ)', adamL2: 'Adam + L2(λθ를 기울기에 더함)', steps: '스텝 수', lr: '학습률 η', wd: '가중치 감쇠 λ', loss: '검증 손실',
    title: (steps: number) => `${steps}스텝 후 검증 손실(최소제곱, 학습 샘플 ${GRID.train}개)`, best: '가장 좋은 칸: η, λ =', bestLoss: '그 칸의 검증 손실:',
  },
};

/** Notebook 10: the lr × weight-decay grid of held-out loss, for AdamW or Adam + L2. */
export function LrWdGridWidget(): React.ReactElement {
  const t = useStrings(GRID_STRINGS);
  const [mode, setMode] = useState<'adamw' | 'adam-l2'>('adamw');
  const [steps, setSteps] = useState(100);
  const { outcome, busy } = useRun(() => runPreferringWebGpu((b) => lrWdGrid(mode, steps, b)), [mode, steps]);
  const best = (cells: GridCell[]): GridCell => cells.reduce((a, b) => (b.loss < a.loss ? b : a));
  const spec = (cells: GridCell[]): TopLevelSpec => ({
    $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: t.title(steps),
    data: { values: cells.map((c) => ({ lr: String(c.lr), wd: String(c.weightDecay), loss: c.loss, label: formatNumber(c.loss, 3), best: c === best(cells) })) },
    encoding: {
      x: { field: 'lr', type: 'ordinal', title: t.lr, sort: GRID.lrs.map(String), axis: { labelAngle: 0 } },
      y: { field: 'wd', type: 'ordinal', title: t.wd, sort: [...GRID.weightDecays].reverse().map(String) },
    },
    layer: [
      { mark: { type: 'rect' }, encoding: { color: { field: 'loss', type: 'quantitative', title: t.loss, scale: { scheme: 'viridis', type: 'log', reverse: true } } } },
      { mark: { type: 'rect', fill: null, stroke: RED, strokeWidth: 3 }, transform: [{ filter: 'datum.best' }] },
      { mark: { type: 'text', fontSize: 10 }, encoding: { text: { field: 'label' }, color: { condition: { test: 'datum.loss > 1', value: 'white' }, value: 'black' } } },
    ],
  });
  return (
    <FigureFrame id="lr-wd-grid" outcome={outcome} busy={busy} spec={spec}
      controls={<>
        <fieldset>
          <legend>{t.optimizer}</legend>
          <label className="inline"><input type="radio" name="lr-wd-grid-mode" checked={mode === 'adamw'} onChange={() => setMode('adamw')} data-testid="lr-wd-grid-adamw" />{t.adamw}</label>
          <label className="inline"><input type="radio" name="lr-wd-grid-mode" checked={mode === 'adam-l2'} onChange={() => setMode('adam-l2')} data-testid="lr-wd-grid-adam-l2" />{t.adamL2}</label>
        </fieldset>
        <Slider label={t.steps} value={steps} min={GRID.steps[0]} max={GRID.steps[GRID.steps.length - 1]!} step={GRID.steps[1] - GRID.steps[0]} onChange={setSteps} format={String} testId="lr-wd-grid-steps" />
      </>}
      numbers={(cells) => (
        <>
          <KeyNumber label={t.best} value={`${best(cells).lr}, ${best(cells).weightDecay}`} testId="lr-wd-grid-best" />
          <KeyNumber label={t.bestLoss} value={formatNumber(best(cells).loss)} testId="lr-wd-grid-best-loss" />
        </>
      )} />
  );
}
