// The variant table: one row per preset of the library's PRESET_CATALOG, every number read back from
// the optimizer itself (scripts/site/variant-data.ts) or from the published bench:variants run.
import React from 'react';
import { variantData } from './data';
import { PARAM_DTYPE_NAMES, useStrings } from './locale';

const STRINGS = {
  en: {
    preset: 'Preset',
    exact: 'State bytes/param (exact)',
    small: (n: number) => `tensors under ${n} elements`,
    measured: 'Measured (resident growth/param)',
    stores: 'What it stores',
    defaults: 'Defaults',
    meets: 'Where users meet it',
    perBlock: (b: number) => `one per ${b} params`,
    none: 'not measured',
  },
  ko: {
    preset: '프리셋',
    exact: '파라미터당 상태 바이트(정확값)',
    small: (n: number) => `원소가 ${n}개 미만인 텐서`,
    measured: '측정값(파라미터당 상주 메모리 증가)',
    stores: '저장하는 것',
    defaults: '기본값',
    meets: '사용되는 곳',
    perBlock: (b: number) => `파라미터 ${b}개마다 하나`,
    none: '측정 안 됨',
  },
};

const fmt = (x: number, digits = 3): string => Number(x.toFixed(digits)).toString();

/** Every preset: exact and measured state bytes, buffers, defaults, options and where users meet it. */
export default function VariantTable(): React.ReactElement {
  const s = useStrings(STRINGS);
  const paramDtypes = useStrings(PARAM_DTYPE_NAMES);
  const { rows, min8bitElements, blockSize } = variantData;
  return (
    <table className="data-table">
      <thead>
        <tr>
          <th>{s.preset}</th>
          <th className="num">{s.exact}</th>
          <th className="num">{s.measured}</th>
          <th>{s.stores}</th>
          <th>{s.defaults}</th>
          <th>{s.meets}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.label} data-preset={row.label}>
            <td>
              <code>{row.className}</code>
              <br />
              <small>{paramDtypes[row.paramDtype]}</small>
              <br />
              <small>
                {[`stateDtype '${row.options.stateDtype}'`, row.options.paged && 'paged', row.options.kahan && 'kahan', row.options.stable && 'stable'].filter(Boolean).join(' · ')}
              </small>
            </td>
            <td className="num">
              <strong data-testid="exact-bytes">{fmt(row.bytesPerParam.large)}</strong>
              {row.bytesPerParam.small !== row.bytesPerParam.large && (
                <>
                  <br />
                  <small>
                    {fmt(row.bytesPerParam.small)} ({s.small(min8bitElements)})
                  </small>
                </>
              )}
            </td>
            <td className="num">{row.measured ? fmt(row.measured.bytesPerParam) : s.none}</td>
            <td className="code-list">
              {row.buffers.map((b) => (
                <div key={b.name}>
                  <code>{b.name}</code> {b.dtype}
                  {b.perParam < 1 ? <small> ({s.perBlock(blockSize)})</small> : null}
                </div>
              ))}
            </td>
            <td>
              <small>
                lr {row.defaults.lr}, β ({row.defaults.betas.join(', ')}), ε {row.defaults.eps}, λ {row.defaults.weightDecay}
              </small>
            </td>
            <td className="code-list">
              {row.equivalents.map((e) => (
                <div key={e.project + e.code}>
                  <small>
                    {e.project}: <code>{e.code}</code>
                  </small>
                </div>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** When and how the measured column was produced. */
export function VariantMeasurementNote(): React.ReactElement {
  const m = variantData.rows.find((r) => r.measured)?.measured;
  const en = useStrings({ en: true, ko: false });
  if (!m) return <p><small>{en ? 'No published measurement yet: run ' : '게시된 측정이 아직 없습니다. 실행: '}<code>npm run bench:variants</code></small></p>;
  const command = <code>{m.command}</code>;
  const date = m.date.slice(0, 10);
  const params = m.params.toLocaleString(en ? 'en' : 'ko');
  return en ? (
    <p><small>
      Measured column: {command} on {date}, {params} params per preset, each in a fresh Node process: the growth of resident
      memory across the first step, divided by the param count. Paged presets keep a 16 MiB budget resident, so their measured
      bytes are far below the exact state size, which lives in the spill file.
    </small></p>
  ) : (
    <p><small>
      측정 열: {date}에 {command}로 얻은 값입니다. 프리셋마다 파라미터 {params}개를 새 Node 프로세스에서 만들고, 첫 스텝 동안 늘어난
      상주 메모리를 파라미터 수로 나눴습니다. 페이징 프리셋은 16 MiB 예산만 메모리에 두므로, 측정값이 스필 파일에 있는 정확한 상태
      크기보다 훨씬 작습니다.
    </small></p>
  );
}
