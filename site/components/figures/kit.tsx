// The frame every interactive figure and the playground share: a slider, the Vega-Lite plot (drawn
// as SVG in the page), the run hook (re-run on every change, the stale result dropped) and the
// status line that says which backend ran and why.
import React, { useEffect, useRef, useState } from 'react';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { useLocale, type Locale } from '../locale';
import type { Outcome } from './compute';

const STATUS = {
  en: {
    ran: 'Ran on',
    webgpu: 'This browser has WebGPU and the options have a WGSL kernel.',
    noGpu: 'This browser offers no WebGPU adapter (navigator.gpu), so the CPU path ran.',
    gpuFailed: (why: string) => `WebGPU failed (${why}); the CPU path ran instead.`,
    codec: "Computed in this browser by adamw-lab's 8-bit codec (dynamicMap, quantizeSigned), in JavaScript: this is a quantization, not an optimizer step, so no backend is involved.",
    running: 'running…',
    backend: (description: string) => description,
  },
  ko: {
    ran: '실행한 곳:',
    webgpu: '이 브라우저에 WebGPU가 있고, 이 옵션에 맞는 WGSL 커널이 있습니다.',
    noGpu: '이 브라우저에는 WebGPU 어댑터(navigator.gpu)가 없어 CPU 경로로 실행했습니다.',
    gpuFailed: (why: string) => `WebGPU 실행이 실패해(${why}) CPU 경로로 실행했습니다.`,
    codec: '이 브라우저에서 adamw-lab의 8비트 코덱(dynamicMap, quantizeSigned)을 JavaScript로 실행해 계산했습니다. 옵티마이저 스텝이 아니라 양자화이므로 백엔드를 거치지 않습니다.',
    running: '실행 중…',
    /** The library describes its backend in English ("cpu (WebAssembly SIMD, up to 2 threads)"). */
    backend: (description: string) => description.replace(/up to (\d+) threads?/, '최대 $1스레드'),
  },
};

/** The status line of an outcome: where it ran, and why there. */
export function backendStatus(outcome: Outcome<unknown>, locale: Locale): string {
  const t = STATUS[locale];
  if (!outcome.ok) return '';
  if (outcome.reason === 'codec') return t.codec;
  const why = outcome.reason === 'webgpu' ? t.webgpu : outcome.reason === 'no-webgpu' ? t.noGpu : t.gpuFailed(outcome.gpuError ?? '');
  return `${t.ran} ${t.backend(outcome.backend)}. ${why}`;
}

/** Run `compute` whenever `deps` change; a result that arrives after a newer change is dropped. */
export function useRun<T>(compute: () => Promise<Outcome<T>>, deps: React.DependencyList): { outcome: Outcome<T> | null; busy: boolean } {
  const [outcome, setOutcome] = useState<Outcome<T> | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let cancelled = false;
    setBusy(true);
    void compute().then((result) => {
      if (cancelled) return;
      setOutcome(result);
      setBusy(false);
    });
    return () => {
      cancelled = true;
    };
  }, deps);
  return { outcome, busy };
}

/** A Vega-Lite spec drawn as SVG; redrawn when the spec changes. */
export function VegaPlot({ spec, testId }: { spec: TopLevelSpec; testId: string }): React.ReactElement {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!container.current) return undefined;
    const view = new View(parse(compile(spec).spec), { renderer: 'svg', container: container.current, hover: true });
    void view.runAsync();
    return () => {
      view.finalize();
    };
  }, [spec]);
  return <div className="widget-plot" ref={container} data-testid={testId} />;
}

/** A labelled range input; `log` moves it in log10 of the value. */
export function Slider({ label, value, min, max, step, log, onChange, testId, format }: {
  label: string; value: number; min: number; max: number; step: number; log?: boolean; onChange: (v: number) => void; testId: string; format?: (v: number) => string;
}): React.ReactElement {
  const position = log ? Math.log10(value) : value;
  const shown = format ? format(value) : log || value < 0.01 ? value.toExponential(1) : String(Number(value.toPrecision(4)));
  return (
    <label>
      <span>
        {label}: <output>{shown}</output>
      </span>
      <input type="range" data-testid={testId} min={min} max={max} step={step} value={position}
        onChange={(e) => onChange(log ? 10 ** Number(e.target.value) : Number(e.target.value))} />
    </label>
  );
}

/**
 * One figure: its controls, the plot (or the library's error), the status line and the key numbers
 * as text. Test ids: `${id}` on the frame, `${id}-plot`, `${id}-status`, `${id}-error`.
 */
export function FigureFrame<T>({ id, controls, outcome, busy, spec, numbers }: {
  id: string;
  controls: React.ReactNode;
  outcome: Outcome<T> | null;
  busy: boolean;
  spec: (value: T) => TopLevelSpec;
  numbers: (value: T) => React.ReactNode;
}): React.ReactElement {
  return (
    <figure className="widget interactive-figure" data-testid={id} aria-busy={busy}>
      <div className="widget-grid">{controls}</div>
      {outcome && !outcome.ok ? (
        <div className="alert alert--warning" role="alert" data-testid={`${id}-error`}>{outcome.error}</div>
      ) : outcome?.ok ? (
        <div className="figure-body">
          <VegaPlot spec={spec(outcome.value)} testId={`${id}-plot`} />
          <div className="figure-numbers">{numbers(outcome.value)}</div>
        </div>
      ) : null}
      <StatusLine outcome={outcome} busy={busy} testId={`${id}-status`} />
    </figure>
  );
}

/** The status line: "running…" while a run is under way, then where it ran and why. */
export function StatusLine({ outcome, busy, testId }: { outcome: Outcome<unknown> | null; busy: boolean; testId: string }): React.ReactElement {
  const locale = useLocale();
  return (
    <p className="widget-status" data-testid={testId}>
      {busy ? STATUS[locale].running : outcome ? backendStatus(outcome, locale) : ''}
    </p>
  );
}

/** One labelled number beside a plot, with its test id. */
export function KeyNumber({ label, value, testId }: { label: React.ReactNode; value: string; testId: string }): React.ReactElement {
  return (
    <div className="key-number">
      <span>{label}</span> <output data-testid={testId}>{value}</output>
    </div>
  );
}
