// What a checkpoint of each preset holds, read back from the bytes the library's saveBytes() writes
// (scripts/site/variant-data.ts), so the table cannot drift from the format.
import React from 'react';
import { variantData } from './data';
import { PARAM_DTYPE_NAMES, useStrings } from './locale';

const STRINGS = {
  en: { preset: 'Preset', tensors: 'Tensors of param i (n elements)', metadata: 'Metadata keys of every checkpoint:' },
  ko: { preset: '프리셋', tensors: '파라미터 i(원소 n개)의 텐서', metadata: '모든 체크포인트의 메타데이터 키:' },
};

/** One row per preset: the tensor names, safetensors dtypes and shapes of one param's state. */
export default function CheckpointTable(): React.ReactElement {
  const s = useStrings(STRINGS);
  const paramDtypes = useStrings(PARAM_DTYPE_NAMES);
  const { rows } = variantData;
  return (
    <>
      <table className="data-table">
        <thead>
          <tr><th>{s.preset}</th><th>{s.tensors}</th></tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.label} data-preset={row.label}>
              <td><code>{row.className}</code><br /><small>{paramDtypes[row.paramDtype]}</small></td>
              <td className="code-list">
                {row.checkpoint.tensors.map((t) => (
                  <div key={t.name}>
                    <code>{t.name.replace(/^state\.0\./, 'state.i.')}</code> <small>{t.dtype} {t.shape}</small>
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p><small>{s.metadata} {rows[0]?.checkpoint.metadataKeys.map((k, i) => <React.Fragment key={k}>{i > 0 && ', '}<code>{k}</code></React.Fragment>)}</small></p>
    </>
  );
}
