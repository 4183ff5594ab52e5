/**
 * The site's sources, without a browser: every English page has a Korean page, Korean prose on the
 * site follows the same glossary as the notebooks, no page, README or glossary carries a control
 * character or names a file that is not in the repo (or material outside it), and the notebook → MDX
 * converter keeps MDX from reading outputs and prose as JSX or expressions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeProse, fence, INTERACTIVE_FIGURES, notebookToMdx, proseWithFigures, siteLinks } from '../scripts/site/notebooks-to-mdx.js';
import { readGlossary } from '../scripts/notebooks/format.js';
import { controlCharacterProblems, EN_DOCS, KO_DOCS, namedFileProblems, repoPath, writtenPages } from '../scripts/site/prose-checks.js';
import { REPO_ROOT } from './helpers.js';

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
      // The widgets and figures, their subfolders (site/components/figures/) included.
      ...readdirSync(join(REPO_ROOT, 'site', 'components'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f)).map((f) => join(REPO_ROOT, 'site', 'components', f)),
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

  const readerFacing = [...writtenPages(), join(REPO_ROOT, 'README.md'), join(REPO_ROOT, 'docs', 'glossary.json')];
  it('no control characters in the docs pages (both locales), README.md or the glossary', () => {
    assert.ok(readerFacing.length >= 20, `${readerFacing.length} files`);
    assert.deepEqual(readerFacing.flatMap((f) => controlCharacterProblems(repoPath(f), readFileSync(f, 'utf8'))), []);
  });

  it('every file the docs pages (both locales) and README.md name exists; none points outside the repo', () => {
    assert.deepEqual(readerFacing.flatMap((f) => namedFileProblems(repoPath(f), readFileSync(f, 'utf8'), join(f, '..'))), []);
  });

  it('no comment in the library, the site components or the build scripts points outside the repo', () => {
    const sources = (dir: string): string[] => readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|tsx|mjs)$/.test(f) && !f.endsWith('prose-checks.ts')).map((f) => join(REPO_ROOT, dir, f));
    const files = [...sources('src'), ...sources('site/components'), ...sources('scripts'), ...sources('kernels'), ...sources('bench'), ...sources('examples')];
    const problems = files.flatMap((f) => namedFileProblems(repoPath(f), readFileSync(f, 'utf8')).filter((p) => p.includes('points readers at material outside')));
    assert.deepEqual(problems, []);
  });

  it('the file check reads links relative to the page and names the line', () => {
    const page = 'See [the table](./variants.mdx), [nothing](./nothing.mdx), `docs/missing.mdx`, `README.md`, `optimi/adam.py`, PyTorch `torch/optim/adamw.py` and\noptimi `optimi/utils.py`; the seeds\' numbers.';
    assert.deepEqual(namedFileProblems('docs/x.mdx', `title\n${page}`, EN_DOCS), [
      'docs/x.mdx line 2: names `docs/missing.mdx`, which is not in the repo',
      'docs/x.mdx line 2: names `optimi/adam.py`, which is not in the repo (an upstream file? name its repository before it on the same line)',
      'docs/x.mdx line 2: names `./nothing.mdx`, which is not in the repo (an upstream file? name its repository before it on the same line)',
      'docs/x.mdx line 3: "the seeds" points readers at material outside the repo',
    ]);
    assert.deepEqual(controlCharacterProblems('docs/x.mdx', 'a\n$\u0009heta$'), ['docs/x.mdx line 2 col 2: control character U+0009 in "$\\theta$"']);
  });
});

describe('notebook → MDX converter', () => {
  it('escapes braces and angle brackets in prose, but not inside math or code', () => {
    const prose = 'A set {a, b} and x < y, with $\\{x_i\\}_{i<n}$ and `f({x})` and\n\n$$\n\\frac{a}{b} < 1\n$$';
    assert.equal(escapeProse(prose), 'A set \\{a, b\\} and x \\< y, with $\\{x_i\\}_{i<n}$ and `f({x})` and\n\n$$\n\\frac{a}{b} < 1\n$$');
  });

  it("passes the solution-folding tags through and escapes every other tag", () => {
    const exercise = '1. Find $x<1$.\n\n<details>\n<summary>Solution</summary>\n\n$x = 1/2$ since a < b and <b>{x}</b>.\n\n</details>\n\n<detailsx> <div>';
    assert.equal(escapeProse(exercise), '1. Find $x<1$.\n\n<details>\n<summary>Solution</summary>\n\n$x = 1/2$ since a \\< b and \\<b>\\{x\\}\\</b>.\n\n</details>\n\n\\<detailsx> \\<div>');
    assert.ok(escapeProse('<details>\n<summary>풀이</summary>\n\n답\n\n</details>').startsWith('<details>\n<summary>풀이</summary>'));
  });

  it("rewrites a notebook's links to docs pages (../docs/x.mdx) for the page's place in the site (../x.mdx)", () => {
    assert.equal(siteLinks('see [Algorithms](../docs/algorithms.mdx) and [a part](../docs/algorithms.mdx#adamw8bit)'),
      'see [Algorithms](../algorithms.mdx) and [a part](../algorithms.mdx#adamw8bit)');
    assert.equal(siteLinks('[code](../src/rules/adam.ts) and `../docs/x.mdx`'), '[code](../src/rules/adam.ts) and `../docs/x.mdx`');
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
    // Only a notebook that imports './lab' tells readers to save notebooks/lab.ts beside it.
    for (const page of [en, ko]) assert.ok(!page.includes('notebooks/lab.ts'), 'no helper note without the import');
    const withLab = { cells: notebook.cells.map((c) => (c.cell_type === 'code' ? { ...c, source: `import { plot } from './lab';\n${String(c.source)}` } : c)) };
    for (const locale of ['en', 'ko'] as const) {
      const page = notebookToMdx('01-topic.ipynb', withLab, locale, write);
      assert.match(page, /\[`notebooks\/lab\.ts`\]\(pathname:\/\/\/notebooks\/lab\.ts\)[^\n]*\n:::/, `${locale}: the info box links notebooks/lab.ts`);
    }
  });

  it('turns an allowlisted figure marker line into its component, imported once, and refuses any other', () => {
    const figures = { 'ema-kernel': 'EmaKernelFigure' };
    const placed = proseWithFigures('Text {x} and $\\{a\\}$.\n<!-- figure: ema-kernel -->\nMore <b>.\n  <!-- figure: ema-kernel -->', '01-a.ipynb', figures);
    assert.equal(placed.prose, 'Text \\{x\\} and $\\{a\\}$.\n<EmaKernelFigure />\nMore \\<b>.\n<EmaKernelFigure />');
    assert.deepEqual(placed.components, ['EmaKernelFigure']);
    // Not alone on its line: plain prose, escaped, never JSX.
    assert.deepEqual(proseWithFigures('see <!-- figure: ema-kernel --> here', '01-a.ipynb', figures), { prose: 'see \\<!-- figure: ema-kernel --> here', components: [] });
    assert.throws(() => proseWithFigures('<!-- figure: Evil onload=x -->\n<!-- figure: unknown -->', '01-a.ipynb', figures), /01-a\.ipynb: figure "unknown" is not an interactive figure; known: ema-kernel/);
    // Through the page converter: the import comes once, after the front matter, before the prose.
    const notebook = { cells: [
      { cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: '# 1. T\n\n<!-- figure: ema-kernel -->' },
      { cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: 'Again:\n<!-- figure: ema-kernel -->' },
    ] };
    const page = notebookToMdx('01-t.ipynb', notebook, 'en', () => '', figures);
    assert.equal(page.match(/^import \{ EmaKernelFigure \} from '@site\/site\/components\/figures';$/gm)?.length, 1, page);
    assert.ok(page.indexOf('import EmaKernelFigure') < page.indexOf('# 1. T') && page.includes('Again:\n<EmaKernelFigure />'), page);
    // The registered allowlist: each name is a component that site/components/figures/ exports; others are refused.
    assert.ok(notebookToMdx('01-t.ipynb', notebook, 'en', () => '').includes('<EmaKernelFigure />'));
    const exported = readFileSync(join(REPO_ROOT, 'site', 'components', 'figures', 'index.tsx'), 'utf8');
    for (const component of Object.values(INTERACTIVE_FIGURES)) assert.match(exported, new RegExp(`^export const ${component} = `, 'm'), component);
    assert.throws(() => notebookToMdx('01-t.ipynb', { cells: [{ ...notebook.cells[0]!, source: '# T\n<!-- figure: unknown -->' }] }, 'en', () => ''), /figure "unknown" is not an interactive figure; known: ema-kernel, bias-correction/);
  });

  it('refuses an output it cannot convert safely, and a notebook without a title', () => {
    const html = { cells: [{ cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: '# T' }, { cell_type: 'code' as const, metadata: {}, source: 'x', outputs: [{ output_type: 'display_data' as const, data: { 'text/html': '<b>' } }] }] };
    assert.throws(() => notebookToMdx('02-x.ipynb', html, 'en', () => ''), /text\/html has no converter/);
    const untitled = { cells: [{ cell_type: 'markdown' as const, metadata: { lang: 'en' }, source: 'no heading' }] };
    assert.throws(() => notebookToMdx('03-y.ipynb', untitled, 'en', () => ''), /no "# title" heading in the en prose/);
  });
});
