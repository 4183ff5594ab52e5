/**
 * The site's sources, without a browser: every English page has a Korean page, Korean prose on the
 * site follows the same glossary as the notebooks, and the notebook → MDX converter keeps MDX from
 * reading outputs and prose as JSX or expressions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeProse, fence, notebookToMdx } from '../scripts/site/notebooks-to-mdx.js';
import { readGlossary } from '../scripts/notebooks/format.js';
import { REPO_ROOT } from './helpers.js';

const EN_DOCS = join(REPO_ROOT, 'docs');
const KO_DOCS = join(REPO_ROOT, 'i18n', 'ko', 'docusaurus-plugin-content-docs', 'current');
const mdx = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.mdx')).sort();

describe('site sources', () => {
  it('every English page has a Korean page, and the reverse', () => {
    assert.deepEqual(mdx(KO_DOCS), mdx(EN_DOCS));
  });

  it("Korean site text follows the notebooks' glossary", () => {
    const glossary = readGlossary();
    const koreanSources = [
      ...mdx(KO_DOCS).map((f) => join(KO_DOCS, f)),
      ...readdirSync(join(REPO_ROOT, 'i18n', 'ko', 'docusaurus-theme-classic')).map((f) => join(REPO_ROOT, 'i18n', 'ko', 'docusaurus-theme-classic', f)),
      ...readdirSync(join(REPO_ROOT, 'site', 'components')).map((f) => join(REPO_ROOT, 'site', 'components', f)),
    ];
    const problems: string[] = [];
    for (const file of koreanSources) {
      const text = readFileSync(file, 'utf8');
      for (const entry of glossary) {
        for (const avoided of entry.avoid ?? []) if (text.includes(avoided)) problems.push(`${file}: "${avoided}" departs from the glossary; write "${entry.ko}"`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('notebook → MDX converter', () => {
  it('escapes braces and angle brackets in prose, but not inside math or code', () => {
    const prose = 'A set {a, b} and x < y, with $\\{x_i\\}_{i<n}$ and `f({x})` and\n\n$$\n\\frac{a}{b} < 1\n$$';
    assert.equal(escapeProse(prose), 'A set \\{a, b\\} and x \\< y, with $\\{x_i\\}_{i<n}$ and `f({x})` and\n\n$$\n\\frac{a}{b} < 1\n$$');
  });

  it('fences outputs with more backticks than they contain', () => {
    assert.equal(fence('a ``` b', 'text'), '````text\na ``` b\n````');
    assert.equal(fence('plain', 'text'), '```text\nplain\n```');
  });

  it('writes each locale its own prose, the same code and outputs, and plots as files', () => {
    const notebook = {
      cells: [
        { cell_type: 'markdown' as const, metadata: { lang: 'ko' }, source: '# 1. 제목\n\n본문 {x}' },
        { cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: '# 1. Title\n\nBody {x}' },
        {
          cell_type: 'code' as const, metadata: {}, source: 'console.log("<b>{x}</b>")',
          outputs: [
            { output_type: 'stream' as const, name: 'stdout', text: '<b>{x}</b>\n' },
            { output_type: 'display_data' as const, data: { 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg"></svg>' } },
          ],
        },
      ],
    };
    const assets = new Map<string, string>();
    const write = (name: string, content: string): string => (assets.set(name, content), `/notebook-outputs/${name}`);
    const en = notebookToMdx('01-topic.ipynb', notebook, 'en', write);
    const ko = notebookToMdx('01-topic.ipynb', notebook, 'ko', write);
    assert.match(en, /^---\ntitle: "1\. Title"/);
    assert.match(ko, /^---\ntitle: "1\. 제목"/);
    assert.ok(en.includes('Body \\{x\\}') && !en.includes('본문'));
    assert.ok(ko.includes('본문 \\{x\\}') && !ko.includes('Body'));
    for (const page of [en, ko]) {
      assert.ok(page.includes('```ts\nconsole.log("<b>{x}</b>")\n```'), 'code cell fenced verbatim');
      assert.ok(page.includes('```text\n<b>{x}</b>\n```'), 'output fenced verbatim');
      assert.ok(page.includes('](/notebook-outputs/topic/cell2-1.svg)'), 'plot linked as a file');
      assert.ok(!/<svg/.test(page), 'no inline SVG');
      assert.ok(page.includes('pathname:///notebooks/01-topic.ipynb'), 'links the notebook file');
    }
    assert.equal(assets.get('topic/cell2-1.svg'), '<svg xmlns="http://www.w3.org/2000/svg"></svg>');
  });

  it('refuses an output it cannot convert safely, and a notebook without a title', () => {
    const html = { cells: [{ cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: '# T' }, { cell_type: 'code' as const, metadata: {}, source: 'x', outputs: [{ output_type: 'display_data' as const, data: { 'text/html': '<b>' } }] }] };
    assert.throws(() => notebookToMdx('02-x.ipynb', html, 'en', () => ''), /text\/html has no converter/);
    const untitled = { cells: [{ cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: 'no heading' }] };
    assert.throws(() => notebookToMdx('03-y.ipynb', untitled, 'en', () => ''), /no "# title" heading in the en prose/);
  });
});
