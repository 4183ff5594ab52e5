// The playground: adamw-lab itself, running in the reader's browser on a 2-D problem. WebGPU when the
// browser has it and the kernel exists for the chosen options, the CPU (WebAssembly SIMD) otherwise;
// the status line says which ran and why. Plotted with Vega-Lite.
import React, { useState } from 'react';
import { Adam, AdamW, fromBf16, toBf16, type AdamOptimizer, type OptimizerOptions, type Param } from 'adamw-lab';
import type { TopLevelSpec } from 'vega-lite';
import { useStrings } from './locale';
import { normalFrom, runPreferringWebGpu, seeded, type StepBackend } from './figures/compute';
import { Slider, StatusLine, useRun, VegaPlot } from './figures/kit';

/**
 * The plotted point is elements 0 and 1 of a 4096-element tensor, so the 8-bit toggle really
 * quantizes (bitsandbytes keeps tensors under 4096 elements in fp32): the point shares its
 * 256-element absmax block with 254 other coordinates, as a weight shares a block in a real layer.
 */
const LENGTH = 4096;
const STEPS = 150;
/** f(x, y) = ½·(a(x − x*)² + b(y − y*)²): b/a = 16, so plain gradient descent would zig-zag in y. */
const CURVATURE = [1, 16];
const OPTIMUM = [1.5, 1];
const START = [-2.2, -1.6];
const DOMAIN = { x: [-3, 3], y: [-2.5, 2.5] };

/** Per-coordinate curvature and optimum: the plotted pair first, then seeded background coordinates. */
function problem(): { curvature: Float64Array; optimum: Float64Array; start: Float64Array } {
  const u = seeded(7);
  const n = normalFrom(u);
  const curvature = new Float64Array(LENGTH), optimum = new Float64Array(LENGTH), start = new Float64Array(LENGTH);
  for (let i = 0; i < LENGTH; i++) {
    curvature[i] = i < 2 ? CURVATURE[i]! : 0.5 + 20 * u();
    optimum[i] = i < 2 ? OPTIMUM[i]! : 2 * n();
    start[i] = i < 2 ? START[i]! : 2 * n();
  }
  return { curvature, optimum, start };
}
const PROBLEM = problem();

export interface Settings {
  mode: 'adamw' | 'adam-l2';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  noise: number;
  eightBit: boolean;
  bf16: boolean;
  stable: boolean;
}

type Path = { step: number; x: number; y: number }[];

/** Run STEPS steps of the chosen optimizer on `backend`, recording the plotted pair. */
async function trajectory(s: Settings, backend: StepBackend): Promise<{ value: Path; backend: string }> {
  const start = Float32Array.from(PROBLEM.start);
  const param: Param = s.bf16 ? { data: toBf16(start), dtype: 'bf16', grad: new Float32Array(LENGTH) } : { data: start, grad: new Float32Array(LENGTH) };
  const options: OptimizerOptions = {
    lr: s.lr, betas: [s.beta1, s.beta2], eps: s.eps, weightDecay: s.weightDecay, backend,
    ...(s.eightBit ? { stateDtype: '8bit' as const } : {}),
    ...(s.stable ? { stable: true } : {}),
  };
  const opt: AdamOptimizer = s.mode === 'adamw' ? new AdamW([param], options) : new Adam([param], options);
  const noise = normalFrom(seeded(1234));
  const values = (): Float32Array => (param.dtype === 'bf16' ? fromBf16(param.data as Uint16Array) : (param.data as Float32Array));
  const path: Path = [];
  try {
    let x = values();
    path.push({ step: 0, x: x[0]!, y: x[1]! });
    for (let step = 1; step <= STEPS; step++) {
      // g = ∇f + σ·ξ: the exact gradient of the quadratic, plus seeded noise of scale σ.
      for (let i = 0; i < LENGTH; i++) param.grad![i] = PROBLEM.curvature[i]! * (x[i]! - PROBLEM.optimum[i]!) + s.noise * noise();
      await opt.step();
      x = values();
      path.push({ step, x: x[0]!, y: x[1]! });
    }
    return { value: path, backend: opt.backendDescription };
  } finally {
    opt.destroy();
  }
}

/** Level sets of f as closed ellipses, for the background. */
function contours(): { level: number; t: number; x: number; y: number }[] {
  const rows: { level: number; t: number; x: number; y: number }[] = [];
  for (const level of [0.05, 0.25, 1, 2.5, 5, 10, 20]) {
    for (let k = 0; k <= 72; k++) {
      const theta = (2 * Math.PI * k) / 72;
      rows.push({ level, t: k, x: OPTIMUM[0]! + Math.sqrt((2 * level) / CURVATURE[0]!) * Math.cos(theta), y: OPTIMUM[1]! + Math.sqrt((2 * level) / CURVATURE[1]!) * Math.sin(theta) });
    }
  }
  return rows;
}
const CONTOURS = contours();

function spec(path: Path, title: string): TopLevelSpec {
  const x = { field: 'x', type: 'quantitative' as const, scale: { domain: DOMAIN.x, clamp: true }, title: 'θ₀' };
  const y = { field: 'y', type: 'quantitative' as const, scale: { domain: DOMAIN.y, clamp: true }, title: 'θ₁' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 520,
    height: 430,
    title,
    layer: [
      { data: { values: CONTOURS }, mark: { type: 'line', strokeWidth: 1, clip: true }, encoding: { x, y, detail: { field: 'level' }, order: { field: 't' }, color: { value: '#c9d6e3' } } },
      { data: { values: path }, mark: { type: 'line', strokeWidth: 2, point: { size: 14 }, clip: true }, encoding: { x, y, order: { field: 'step' }, color: { value: '#2e5f8a' }, tooltip: [{ field: 'step' }, { field: 'x', format: '.4f' }, { field: 'y', format: '.4f' }] } },
      { data: { values: [{ x: OPTIMUM[0], y: OPTIMUM[1] }] }, mark: { type: 'point', shape: 'cross', size: 160, color: '#d62728', filled: true }, encoding: { x, y } },
      { data: { values: [path[path.length - 1]] }, mark: { type: 'point', size: 90, color: '#e07b39', filled: true, clip: true }, encoding: { x, y } },
    ],
  };
}

const STRINGS = {
  en: {
    lr: 'learning rate η', beta1: 'β1 (momentum)', beta2: 'β2 (second moment)', eps: 'ε', wd: 'weight decay λ', noise: 'gradient noise σ',
    mode: 'Weight decay', adamw: 'AdamW (decoupled)', adamL2: 'Adam + L2 (coupled)',
    variants: 'Variants', eightBit: '8-bit state (AdamW8bit)', bf16: 'bf16 params (Kahan summation)', stable: 'StableAdamW update clipping',
    title: (steps: number) => `${steps} steps of f(θ) = ½(θ₀ − 1.5)² + 8(θ₁ − 1)²`,
    final: 'after', steps: 'steps',
  },
  ko: {
    lr: '학습률 η', beta1: 'β1(모멘텀)', beta2: 'β2(2차 모멘트)', eps: 'ε', wd: '가중치 감쇠 λ', noise: '기울기 잡음 σ',
    mode: '가중치 감쇠 방식', adamw: 'AdamW(분리형)', adamL2: 'Adam + L2(결합형)',
    variants: '변형', eightBit: '8비트 상태(AdamW8bit)', bf16: 'bf16 파라미터(Kahan 합산)', stable: 'StableAdamW 갱신 크기 제한',
    title: (steps: number) => `f(θ) = ½(θ₀ − 1.5)² + 8(θ₁ − 1)² 위의 ${steps} 스텝`,
    final: '', steps: '스텝 후',
  },
};

/** The widget: sliders, switches, the plot and the status line. */
export default function PlaygroundWidget(): React.ReactElement {
  const t = useStrings(STRINGS);
  const [s, setS] = useState<Settings>({ mode: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, noise: 0.5, eightBit: false, bf16: false, stable: false });
  const { outcome: run, busy } = useRun(() => runPreferringWebGpu((backend) => trajectory(s, backend)), [s]);
  const set = <K extends keyof Settings>(key: K) => (value: Settings[K]) => setS((old) => ({ ...old, [key]: value }));
  const last = run?.ok ? run.value[run.value.length - 1] : undefined;
  return (
    <div className="widget" data-testid="playground">
      <div className="widget-grid">
        <Slider label={t.lr} value={s.lr} min={-3} max={-0.3} step={0.05} log onChange={set('lr')} testId="slider-lr" />
        <Slider label={t.beta1} value={s.beta1} min={0} max={0.99} step={0.01} onChange={set('beta1')} testId="slider-beta1" />
        <Slider label={t.beta2} value={s.beta2} min={0.9} max={0.9999} step={0.0001} onChange={set('beta2')} testId="slider-beta2" />
        <Slider label={t.eps} value={s.eps} min={-10} max={0} step={0.5} log onChange={set('eps')} testId="slider-eps" />
        <Slider label={t.wd} value={s.weightDecay} min={0} max={1} step={0.01} onChange={set('weightDecay')} testId="slider-wd" />
        <Slider label={t.noise} value={s.noise} min={0} max={3} step={0.05} onChange={set('noise')} testId="slider-noise" />
      </div>
      <div className="widget-grid">
        <fieldset>
          <legend>{t.mode}</legend>
          <label className="inline"><input type="radio" name="mode" checked={s.mode === 'adamw'} onChange={() => set('mode')('adamw')} data-testid="mode-adamw" />{t.adamw}</label>
          <label className="inline"><input type="radio" name="mode" checked={s.mode === 'adam-l2'} onChange={() => set('mode')('adam-l2')} data-testid="mode-adam-l2" />{t.adamL2}</label>
        </fieldset>
        <fieldset>
          <legend>{t.variants}</legend>
          <label className="inline"><input type="checkbox" checked={s.eightBit} onChange={(e) => set('eightBit')(e.target.checked)} data-testid="toggle-8bit" />{t.eightBit}</label>
          <label className="inline"><input type="checkbox" checked={s.bf16} onChange={(e) => set('bf16')(e.target.checked)} data-testid="toggle-bf16" />{t.bf16}</label>
          <label className="inline"><input type="checkbox" checked={s.stable} onChange={(e) => set('stable')(e.target.checked)} data-testid="toggle-stable" />{t.stable}</label>
        </fieldset>
      </div>
      {run && !run.ok ? (
        <div className="alert alert--warning" role="alert" data-testid="playground-error">{run.error}</div>
      ) : run?.ok ? (
        <VegaPlot spec={spec(run.value, t.title(STEPS))} testId="playground-plot" />
      ) : null}
      <StatusLine outcome={run} busy={busy} testId="playground-status" />
      {last && (
        <p className="widget-status" data-testid="playground-final">
          θ = ({last.x.toFixed(4)}, {last.y.toFixed(4)}) {t.final} {STEPS} {t.steps}
        </p>
      )}
    </div>
  );
}
