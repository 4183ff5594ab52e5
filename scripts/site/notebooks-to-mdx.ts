/**
 * Executed notebooks (build/notebooks/*.ipynb) → one MDX page per notebook and locale: English prose
 * into docs/notebooks/, Korean prose into i18n/ko/…/current/notebooks/; code cells and outputs are
 * the same in both.
 *
 * MDX parses a bare `{` as a JavaScript expression and `<` as JSX, so:
 * - code and text outputs go into code fences (longer than any backtick run inside them);
 * - SVG plots are written as files and referenced as images, never inlined;
 * - in prose, `{`, `}` and `<` outside math and code are backslash-escaped, except the four tags
 *   that fold an exercise's solution (`<details>`, `<summary>`, and their closing tags), which MDX
 *   renders as a collapsible block;
 * - a prose line that is exactly `<!-- figure: NAME -->` (invisible in Jupyter) becomes the interactive
 *   figure NAME, a React component from site/components/figures/ imported at the top of the page, which
 *   runs the library in the reader's browser (WebGPU when it has an adapter, else the CPU, and says
 *   which) beside the notebook's static plot. Only the names in {@link INTERACTIVE_FIGURES} are
 *   accepted (ema-kernel, bias-correction, l2-vs-decoupled, blockwise-error, stable-spike, lr-wd-grid);
 *   any other name is an error, never raw JSX.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export type Locale = 'en' | 'ko';

interface NotebookCell {
  cell_type: 'markdown' | 'code' | 'raw';
  metadata: { lang?: string };
  source: string | string[];
  outputs?: NotebookOutput[];
}

interface NotebookOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error';
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}

const joinSource = (s: string | string[] | undefined): string => (Array.isArray(s) ? s.join('') : (s ?? ''));

/** A fenced block whose fence is longer than any backtick run in `body`. */
export function fence(body: string, info: string): string {
  const longestRun = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const marks = '`'.repeat(Math.max(3, longestRun + 1));
  return `${marks}${info}\n${body.replace(/\n+$/, '')}\n${marks}`;
}

/** Math, code spans, fenced code and the solution-folding tags pass through untouched; everything else is MDX-escaped. */
const PROTECTED = /(`{3,}[\s\S]*?`{3,}|\$\$[\s\S]*?\$\$|\$[^$\n]+\$|`[^`\n]+`|<\/?details>|<\/?summary>)/;

/** Escape the characters MDX would read as expressions or JSX, outside math and code. */
export function escapeProse(markdown: string): string {
  return markdown
    .split(PROTECTED)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[{}<]/g, '\\$&')))
    .join('');
}

/**
 * The interactive figures a notebook may place: marker name → component, a named export of
 * site/components/figures/ (index.tsx), which runs the library in the reader's browser.
 */
export const INTERACTIVE_FIGURES: Readonly<Record<string, string>> = {
  'ema-kernel': 'EmaKernelFigure',
  'bias-correction': 'BiasCorrectionFigure',
  'l2-vs-decoupled': 'L2VsDecoupledFigure',
  'blockwise-error': 'BlockwiseErrorFigure',
  'stable-spike': 'StableSpikeFigure',
  'lr-wd-grid': 'LrWdGridFigure',
};

/** A prose line placing an interactive figure. */
const FIGURE_MARKER = /^<!-- figure: ([a-z0-9-]+) -->$/;

/**
 * Replace each figure marker line with its component's JSX, escaping the rest as {@link escapeProse}
 * does; returns the prose and the components it used. `figures` is the allowlist (name → component).
 */
export function proseWithFigures(markdown: string, file: string, figures: Readonly<Record<string, string>> = INTERACTIVE_FIGURES): { prose: string; components: string[] } {
  const components: string[] = [];
  const blocks: string[] = [];
  let text: string[] = [];
  const flush = (): void => {
    if (text.length > 0) blocks.push(escapeProse(text.join('\n')));
    text = [];
  };
  for (const line of markdown.split('\n')) {
    const marker = FIGURE_MARKER.exec(line.trim());
    if (!marker) {
      text.push(line);
      continue;
    }
    const component = Object.hasOwn(figures, marker[1]!) ? figures[marker[1]!] : undefined;
    if (component === undefined) {
      throw new Error(`notebooks-to-mdx: ${file}: figure "${marker[1]!}" is not an interactive figure; known: ${Object.keys(figures).join(', ') || 'none'}`);
    }
    flush();
    blocks.push(`<${component} />`);
    if (!components.includes(component)) components.push(component);
  }
  flush();
  return { prose: blocks.join('\n'), components };
}

const LABELS = {
  en: {
    figure: 'Figure',
    source: (file: string, href: string) =>
      `:::info[Notebook]\nThis page is the executed notebook [\`notebooks/${file}\`](${href}). Open it in JupyterLab with the tslab TypeScript kernel ([how](/#notebooks)) to run and change every cell.\n:::`,
    helpers: (href: string) => ` It imports its plot and random-number helpers from [\`notebooks/lab.ts\`](${href}): save that file in the same folder.`,
  },
  ko: {
    figure: '그림',
    source: (file: string, href: string) =>
      `:::info[노트북]\n이 페이지는 실행된 노트북 [\`notebooks/${file}\`](${href})입니다. JupyterLab에서 tslab TypeScript 커널로 열면 모든 셀을 직접 실행하고 고칠 수 있습니다([방법](/#notebooks)).\n:::`,
    helpers: (href: string) => ` 그림과 난수 도우미는 [\`notebooks/lab.ts\`](${href})에서 가져오므로, 이 파일도 같은 폴더에 저장하세요.`,
  },
} as const;

/**
 * Links from a notebook to a docs page are written as the repo sees them from notebooks/
 * (`../docs/algorithms.mdx`, which works in Jupyter and on GitHub); the generated page sits one
 * folder down in docs/ (or its Korean mirror), so the same page is `../algorithms.mdx` from there.
 */
export function siteLinks(prose: string): string {
  return prose.replace(/\]\(\.\.\/docs\/([^)\s]+\.mdx)(#[^)\s]*)?\)/g, (_, page: string, anchor = '') => `](../${page}${anchor})`);
}

/** Whether a code cell imports the notebooks' helper module (`from './lab'`). */
function importsLab(notebook: { cells: NotebookCell[] }): boolean {
  return notebook.cells.some((c) => c.cell_type === 'code' && /from\s+['"]\.\/lab['"]/.test(joinSource(c.source)));
}

/** Where a notebook's page lives: `01-first-moment.ipynb` → slug `first-moment`, position 1. */
export function pageOf(file: string): { slug: string; position: number; stem: string } {
  const stem = basename(file, '.ipynb');
  const match = /^(\d+)-(.+)$/.exec(stem);
  if (!match) throw new Error(`notebooks-to-mdx: ${file}: name must be NN-topic.ipynb`);
  return { slug: match[2]!, position: Number(match[1]), stem };
}

/** One notebook as an MDX page in one locale. SVG outputs are handed to `writeAsset` and linked. */
export function notebookToMdx(
  file: string,
  notebook: { cells: NotebookCell[] },
  locale: Locale,
  writeAsset: (name: string, content: string) => string,
  interactiveFigures: Readonly<Record<string, string>> = INTERACTIVE_FIGURES,
): string {
  const { slug, position } = pageOf(file);
  const labels = LABELS[locale];
  const blocks: string[] = [];
  let title: string | undefined;
  let figures = 0;
  const components: string[] = [];
  for (const [index, cell] of notebook.cells.entries()) {
    const source = joinSource(cell.source);
    if (cell.cell_type === 'markdown') {
      if (cell.metadata.lang !== undefined && cell.metadata.lang !== locale) continue;
      let prose = source;
      if (title === undefined) {
        const heading = /^#\s+(.+)$/m.exec(prose);
        if (heading) {
          title = heading[1]!.trim();
          let info = labels.source(file, `pathname:///notebooks/${file}`);
          // A notebook that imports the shared helpers needs notebooks/lab.ts beside it (published with the notebooks).
          if (importsLab(notebook)) info = info.replace(/\n:::$/, `${labels.helpers('pathname:///notebooks/lab.ts')}\n:::`);
          prose = prose.replace(heading[0], `${heading[0]}\n\n${info}`);
        }
      }
      const placed = proseWithFigures(siteLinks(prose), file, interactiveFigures);
      for (const c of placed.components) if (!components.includes(c)) components.push(c);
      blocks.push(placed.prose);
    } else if (cell.cell_type === 'code') {
      if (source.trim() === '') continue;
      blocks.push(fence(source, 'ts'));
      for (const [k, output] of (cell.outputs ?? []).entries()) {
        const rendered = renderOutput(output, () => {
          figures += 1;
          return { name: `${slug}/cell${index}-${k}.svg`, alt: `${labels.figure} ${figures}` };
        }, writeAsset);
        if (rendered) blocks.push(rendered);
      }
    }
  }
  if (title === undefined) throw new Error(`notebooks-to-mdx: ${file}: no "# title" heading in the ${locale} prose`);
  const frontMatter = [
    '---',
    `title: ${JSON.stringify(title)}`,
    `sidebar_label: ${JSON.stringify(title.replace(/^\d+\.\s*/, ''))}`,
    `sidebar_position: ${position}`,
    `slug: /notebooks/${slug}`,
    'custom_edit_url: null',
    '---',
  ].join('\n');
  const imports = components.length > 0 ? `import { ${components.join(', ')} } from '@site/site/components/figures';\n\n` : '';
  return `${frontMatter}\n\n{/* Generated by scripts/site/notebooks-to-mdx.ts from build/notebooks/${file}; do not edit. */}\n\n${imports}${blocks.join('\n\n')}\n`;
}

function renderOutput(
  output: NotebookOutput,
  nextFigure: () => { name: string; alt: string },
  writeAsset: (name: string, content: string) => string,
): string | undefined {
  if (output.output_type === 'stream') return `<div className="nb-output">\n\n${fence(joinSource(output.text), 'text')}\n\n</div>`;
  if (output.output_type === 'error') return `<div className="nb-output nb-error">\n\n${fence(`${output.ename}: ${output.evalue}`, 'text')}\n\n</div>`;
  const data = output.data ?? {};
  const svg = data['image/svg+xml'];
  if (svg !== undefined) {
    const { name, alt } = nextFigure();
    const href = writeAsset(name, joinSource(svg));
    return `<div className="nb-figure">\n\n![${alt}](${href})\n\n</div>`;
  }
  const text = data['text/plain'];
  if (text !== undefined) return `<div className="nb-output">\n\n${fence(joinSource(text), 'text')}\n\n</div>`;
  throw new Error(`notebooks-to-mdx: an output with ${Object.keys(data).join(', ') || 'no data'} has no converter; add one`);
}

/** Convert every executed notebook in `executedDir` into pages for both locales. */
export function convertNotebooks(options: { executedDir: string; docsDir: string; koDocsDir: string; staticDir: string; sourceDir: string }): string[] {
  const files = readdirSync(options.executedDir).filter((f) => f.endsWith('.ipynb')).sort();
  if (files.length === 0) throw new Error(`notebooks-to-mdx: no executed notebooks in ${options.executedDir}; run npm run notebooks first`);
  const assetsDir = join(options.staticDir, 'notebook-outputs');
  const notebooksDir = join(options.staticDir, 'notebooks');
  for (const dir of [join(options.docsDir, 'notebooks'), join(options.koDocsDir, 'notebooks'), assetsDir, notebooksDir]) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const writeAsset = (name: string, content: string): string => {
    mkdirSync(join(assetsDir, name, '..'), { recursive: true });
    writeFileSync(join(assetsDir, name), content);
    return `/notebook-outputs/${name}`;
  };
  for (const file of files) {
    const notebook = JSON.parse(readFileSync(join(options.executedDir, file), 'utf8')) as { cells: NotebookCell[] };
    writeFileSync(join(options.docsDir, 'notebooks', `${pageOf(file).stem}.mdx`), notebookToMdx(file, notebook, 'en', writeAsset));
    writeFileSync(join(options.koDocsDir, 'notebooks', `${pageOf(file).stem}.mdx`), notebookToMdx(file, notebook, 'ko', writeAsset));
    // The download is the committed notebook, without outputs, as a reader opens it in JupyterLab.
    writeFileSync(join(notebooksDir, file), readFileSync(join(options.sourceDir, file)));
  }
  // The helper modules the notebooks import (notebooks/lab.ts), downloadable beside them.
  for (const helper of readdirSync(options.sourceDir).filter((f) => f.endsWith('.ts'))) {
    writeFileSync(join(notebooksDir, helper), readFileSync(join(options.sourceDir, helper)));
  }
  return files;
}
