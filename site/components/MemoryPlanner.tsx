// Memory planner: weights, grads and optimizer state per device for a parameter count, a preset and
// a number of GPUs, with ZeRO stage 1 (optimizer state sharded across data-parallel ranks). The state
// bytes per param come from the library (variantData), not from a formula typed here.
import React, { useState } from 'react';
import { variantData } from './data';
import { formatDecimalBytes, useStrings } from './locale';

const STRINGS = {
  en: {
    params: 'Parameters',
    preset: 'Preset',
    gpus: 'GPUs (data parallel)',
    zero: 'ZeRO stage 1: shard optimizer state across GPUs',
    weights: 'Weights',
    grads: 'Gradients',
    state: 'Optimizer state',
    total: 'Total per GPU',
    perDevice: 'per GPU',
    paged: 'Paged: this much state exists, but only the page budget is resident at once; the rest lives in a spill file on disk (Node).',
    assumptions: (b: number) =>
      `State uses the library's exact bytes per param for tensors of ${b.toLocaleString('en')}+ elements (measured on one of 2²⁰). Weights and gradients are in the preset's param dtype and are replicated on every GPU (ZeRO-1 shards only the optimizer state). Activations, temporary buffers and fragmentation are not counted.`,
  },
  ko: {
    params: '파라미터 수',
    preset: '프리셋',
    gpus: 'GPU 수(데이터 병렬)',
    zero: 'ZeRO 1단계: 옵티마이저 상태를 GPU들에 나눠 저장',
    weights: '가중치',
    grads: '기울기',
    state: '옵티마이저 상태',
    total: 'GPU당 합계',
    perDevice: 'GPU당',
    paged: '페이징: 상태 전체 크기는 이만큼이지만, 한 번에 메모리에 있는 것은 페이지 예산뿐이고 나머지는 디스크의 스필 파일에 있습니다(Node).',
    assumptions: (b: number) =>
      `상태 크기는 원소 ${b.toLocaleString('ko')}개 이상인 텐서에서 라이브러리가 보고하는 파라미터당 정확한 바이트 수입니다(2²⁰개짜리 텐서로 측정). 가중치와 기울기는 프리셋의 파라미터 자료형으로 모든 GPU에 복제됩니다(ZeRO-1은 옵티마이저 상태만 나눕니다). 활성값, 임시 버퍼, 단편화는 세지 않습니다.`,
  },
};

const PARAM_PRESETS: [string, number][] = [['100M', 1e8], ['1B', 1e9], ['7B', 7e9], ['13B', 13e9], ['70B', 70e9]];

/** 7e9 → "7B", 1e8 → "100M". */
function formatCount(n: number): string {
  if (n >= 1e9) return `${Number((n / 1e9).toPrecision(3))}B`;
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  return n.toLocaleString('en');
}

/** State, weights and grads per device, as bars. */
export default function MemoryPlanner(): React.ReactElement {
  const s = useStrings(STRINGS);
  const [params, setParams] = useState(1e8);
  const [label, setLabel] = useState('AdamW');
  const [gpus, setGpus] = useState(1);
  const [zero1, setZero1] = useState(false);
  const row = variantData.rows.find((r) => r.label === label) ?? variantData.rows[0]!;
  const paramBytes = row.paramDtype === 'bf16' ? 2 : 4;
  const stateTotal = params * row.bytesPerParam.large;
  const parts = [
    { name: s.weights, bytes: params * paramBytes, kind: 'weights' },
    { name: s.grads, bytes: params * paramBytes, kind: 'grads' },
    { name: s.state, bytes: zero1 ? stateTotal / gpus : stateTotal, kind: 'state' },
  ];
  const total = parts.reduce((sum, p) => sum + p.bytes, 0);
  return (
    <div className="widget" data-testid="memory-planner">
      <div className="widget-grid">
        <label>
          {s.params}: <output data-testid="planner-params">{formatCount(params)}</output>
          <input type="number" min={1} step={1} value={params} onChange={(e) => setParams(Math.max(1, Number(e.target.value) || 1))} />
          <span>
            {PARAM_PRESETS.map(([name, n]) => (
              <button key={name} type="button" className="button button--sm button--secondary margin-right--xs" onClick={() => setParams(n)}>
                {name}
              </button>
            ))}
          </span>
        </label>
        <label>
          {s.preset}
          <select value={label} onChange={(e) => setLabel(e.target.value)} data-testid="planner-preset">
            {variantData.rows.map((r) => (
              <option key={r.label} value={r.label}>
                {r.label} — {Number(r.bytesPerParam.large.toFixed(3))} B/param
              </option>
            ))}
          </select>
        </label>
        <label>
          {s.gpus}
          <input type="number" min={1} max={4096} value={gpus} onChange={(e) => setGpus(Math.min(4096, Math.max(1, Math.round(Number(e.target.value)) || 1)))} data-testid="planner-gpus" />
        </label>
        <label className="inline">
          <input type="checkbox" checked={zero1} onChange={(e) => setZero1(e.target.checked)} data-testid="planner-zero1" />
          {s.zero}
        </label>
      </div>
      <div className="planner-bars">
        {parts.map((p) => (
          <div className="planner-bar" key={p.kind}>
            <span>{p.name}</span>
            <div className={`fill ${p.kind}`} style={{ width: `${(100 * p.bytes) / total}%` }} />
            <output data-testid={`planner-${p.kind}`}>{formatDecimalBytes(p.bytes)}</output>
          </div>
        ))}
        <div className="planner-bar">
          <strong>{s.total}</strong>
          <span />
          <output data-testid="planner-total">{formatDecimalBytes(total)}</output>
        </div>
      </div>
      {row.options.paged && <p className="widget-status">{s.paged}</p>}
      <p className="widget-status">{s.assumptions(variantData.min8bitElements)}</p>
    </div>
  );
}
