// The Korean–English glossary that the notebooks and the site share (docs/glossary.json); the
// notebook formatter (scripts/notebooks/format.ts) flags prose that departs from it.
import React from 'react';
import glossary from '@site/docs/glossary.json';
import { useStrings } from './locale';

interface Term {
  en: string;
  ko: string;
  avoid?: string[];
  note?: string;
  /** The note in Korean, where it differs. */
  noteKo?: string;
}

/** The glossary as a table. */
export default function Glossary(): React.ReactElement {
  const s = useStrings({
    en: { en: 'English', ko: 'Korean', avoid: 'Not used', note: 'Note', korean: false },
    ko: { en: '영어', ko: '한국어', avoid: '쓰지 않는 표현', note: '메모', korean: true },
  });
  return (
    <table className="data-table">
      <thead>
        <tr><th>{s.en}</th><th>{s.ko}</th><th>{s.avoid}</th><th>{s.note}</th></tr>
      </thead>
      <tbody>
        {(glossary as Term[]).map((term) => (
          <tr key={term.en}>
            <td>{term.en}</td>
            <td lang="ko">{term.ko}</td>
            <td lang="ko">{term.avoid?.join(', ')}</td>
            <td>{(s.korean && term.noteKo) || term.note}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
