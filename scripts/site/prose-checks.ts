/**
 * Checks on what readers read: notebook prose, the docs pages (both locales), README.md and the
 * built site. Each returns a list of problems (empty when all is well), each naming the file, the
 * cell or line and the offending text, so a failing test says exactly what to fix. Used by
 * test/notebooks.test.ts, test/site-content.test.ts and test/site.test.ts.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { REPO_ROOT, sourceText, type Notebook } from '../notebooks/format';

// ---------------------------------------------------------------------------------------------
// Control characters

/** U+0000–U+001F except the newline, and U+007F. A `\t` or `\b` in a non-raw Python string eats a LaTeX backslash. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u0009\u000b-\u001f\u007f]/g;

/** Every control character in `text`, as `where line L col C: U+XXXX`. */
export function controlCharacterProblems(where: string, text: string): string[] {
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const match of line.matchAll(CONTROL_CHARACTER)) {
      const code = match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      problems.push(`${where} line ${i + 1} col ${match.index + 1}: control character U+${code} in ${JSON.stringify(line.slice(Math.max(0, match.index - 12), match.index + 12))}`);
    }
  });
  return problems;
}

/** Control characters in any cell (prose and code) of a notebook. */
export function notebookControlCharacterProblems(file: string, nb: Notebook): string[] {
  return nb.cells.flatMap((cell, i) => controlCharacterProblems(`${file} cell ${i + 1}`, sourceText(cell)));
}

// ---------------------------------------------------------------------------------------------
// Sections every notebook has

export const EXERCISES_HEADING = { ko: '## 연습 문제', en: '## Exercises' } as const;
export const REFERENCES_HEADING = { ko: '## 참고 문헌', en: '## References' } as const;
const SUMMARY = { ko: '풀이', en: 'Solution' } as const;

const hasLine = (text: string, line: string): boolean => text.split('\n').some((l) => l.trimEnd() === line);
const prose = (nb: Notebook, lang: 'ko' | 'en'): Array<{ index: number; text: string }> =>
  nb.cells.flatMap((cell, index) => (cell.cell_type === 'markdown' && cell.metadata.lang === lang ? [{ index, text: sourceText(cell) }] : []));

/**
 * A folded solution, exactly as MDX needs it: `<details>`, `<summary>…</summary>`, a blank line,
 * the text, a blank line, `</details>`.
 */
const FOLDED = /<details>\n<summary>([^<\n]+)<\/summary>\n\n[\s\S]*?\S[\s\S]*?\n\n<\/details>/g;

/**
 * Display math, an Exercises heading and a References heading in both languages (the Korean
 * heading's cell paired with the English one's), every `<details>` folded as MDX needs it, and no math in headings.
 */
export function notebookSectionProblems(file: string, nb: Notebook): string[] {
  const problems: string[] = [];
  for (const lang of ['ko', 'en'] as const) {
    const cells = prose(nb, lang);
    if (!cells.some((c) => /\$\$[\s\S]+?\$\$/.test(c.text))) problems.push(`${file}: no display math ($$ … $$) in the ${lang} prose`);
    for (const heading of [EXERCISES_HEADING[lang], REFERENCES_HEADING[lang]]) {
      const at = cells.find((c) => hasLine(c.text, heading));
      if (!at) {
        problems.push(`${file}: no ${lang} cell with the line "${heading}"`);
        continue;
      }
      // The pair: Korean heading cell i, English heading cell i + 1.
      if (lang === 'ko') {
        const pair = nb.cells[at.index + 1];
        const enHeading = heading === EXERCISES_HEADING.ko ? EXERCISES_HEADING.en : REFERENCES_HEADING.en;
        if (!pair || pair.metadata.lang !== 'en' || !hasLine(sourceText(pair), enHeading)) problems.push(`${file} cell ${at.index + 1}: "${heading}" is not paired with an en cell that has "${enHeading}"`);
      }
    }
    for (const { index, text } of cells) {
      const opened = (text.match(/<details>/g) ?? []).length;
      const closed = (text.match(/<\/details>/g) ?? []).length;
      const folded = [...text.matchAll(FOLDED)];
      if (opened !== closed || opened !== folded.length) {
        problems.push(`${file} cell ${index + 1}: ${opened} <details>, ${closed} </details>, ${folded.length} folded as "<details>\\n<summary>${SUMMARY[lang]}</summary>\\n\\n…\\n\\n</details>"`);
      }
      for (const f of folded) if (f[1] !== SUMMARY[lang]) problems.push(`${file} cell ${index + 1}: <summary>${f[1]}</summary>, expected <summary>${SUMMARY[lang]}</summary> in ${lang} prose`);
      // The site's table of contents shows a heading's text without KaTeX, so TeX there reads as raw source.
      for (const heading of text.split('\n').filter((line) => /^#{1,6} .*\$/.test(line))) {
        problems.push(`${file} cell ${index + 1}: heading "${heading}" has $math$, which the site's table of contents shows as raw TeX; write it in Unicode (β₁, 1/(1−β))`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Numbers in prose are asserted by code

/**
 * Decimal numbers: with a decimal point (`0.0526`) or in e-notation (`7.15e-7`, `1e-3`). Not part of a
 * word or of a longer number; version strings with two or more dots (`0.16.47`) are not numbers.
 */
const DECIMAL = /(?<![\w.])\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)(?![\w]|\.\d)/g;
/** Not numbers to assert: addresses and identifiers (URLs, arXiv ids). */
const NOT_A_QUANTITY = /https?:\/\/\S+|arXiv[: ]\s*\d+\.\d+/gi;

/** The decimal numbers a prose text states, in order. */
export function decimalNumbers(text: string): string[] {
  return [...text.replace(NOT_A_QUANTITY, ' ').matchAll(DECIMAL)].map((m) => m[0]);
}

/**
 * Every decimal number in a prose cell before the Exercises heading appears, character for
 * character, in some code cell of the same notebook (where the cell asserts it).
 */
export function proseNumberProblems(file: string, nb: Notebook): string[] {
  const code = nb.cells.filter((c) => c.cell_type === 'code').map(sourceText).join('\n');
  const inCode = (n: string): boolean => new RegExp(`(?<![\\w.])${n.replace(/[.+-]/g, '\\$&')}(?![\\w]|\\.\\d)`).test(code);
  const problems: string[] = [];
  for (const lang of ['ko', 'en'] as const) {
    for (const { index, text } of prose(nb, lang)) {
      const lines = text.split('\n');
      const heading = lines.findIndex((l) => l.trimEnd() === EXERCISES_HEADING[lang]);
      const before = (heading < 0 ? lines : lines.slice(0, heading)).join('\n');
      for (const n of new Set(decimalNumbers(before))) {
        if (!inCode(n)) problems.push(`${file} cell ${index + 1} (${lang}): ${n} is stated in prose but appears in no code cell`);
      }
      if (heading >= 0) break; // the rest of this language's prose is exercises and references
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Files named in prose exist; nothing names material outside the repo

/**
 * Repositories whose files prose may name. A path is theirs, not ours, when one of these names
 * appears before it on the same line, or on the line before when the path's line continues a wrapped
 * sentence (`bitsandbytes \`bitsandbytes/functional.py\``, `diffusion-pipe (\`train.py\`)`). Paths
 * under our own top-level folders are always ours and must exist.
 */
export const UPSTREAM_REPOSITORIES = ['PyTorch', 'torch', 'bitsandbytes', 'optimi', 'diffusion-pipe', 'sd-scripts', 'DiffSynth-Studio', 'transformers', 'diffusers', 'optax', 'Optax', 'tfjs', 'TensorFlow.js', 'Keras', 'tslab', 'Docusaurus'];
const OWN_FOLDERS = ['src', 'kernels', 'test', 'scripts', 'bench', 'notebooks', 'docs', 'site', 'examples', 'i18n', '.ci'];
/** Built or installed, not committed: named in prose as where things go. */
const GENERATED = /^(build|dist|node_modules)\//;
const FILE_EXTENSION = /\.(md|mdx|ts|tsx|js|mjs|cjs|py|json|ipynb|cu|wgsl|onnx|toml|ya?ml|sh|txt)$/;
const OWN_PATH = new RegExp(`^(${OWN_FOLDERS.map((f) => f.replace('.', '\\.')).join('|')})/`);

/** Words that point readers at material they do not have. Random seeds are fine. */
const OUTSIDE_MATERIAL = /ALGORITHMS\.md(?!x)|(?<![\w-])shared\/|seed documents?|\bthe seeds\b(?!\s*\d)|\bseeds'|시드 문서/gi;

interface NamedPath { path: string; line: number; upstream: boolean; folders: string[] }

/** Path-like tokens: whole code spans and relative link targets. */
function namedPaths(text: string): NamedPath[] {
  const found: NamedPath[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    // A wrapped sentence goes on from the line before; a list item, table row or heading starts afresh.
    const previous = i > 0 && !/^\s*([-*|#]|\d+\.)/.test(line) ? lines[i - 1]! : '';
    const candidates = [
      ...[...line.matchAll(/`([^`\s]+)`/g)].map((m) => ({ token: m[1]!, at: m.index, link: false })),
      ...[...line.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)].map((m) => ({ token: m[1]!, at: m.index, link: true })),
    ];
    for (const { token, at, link } of candidates) {
      if (/^[a-z]+:/i.test(token) || token.includes('=') || token.startsWith('/') || token.startsWith('~') || token.startsWith('$')) continue; // URL, site route, system path
      if (!link && !(OWN_PATH.test(token) || FILE_EXTENSION.test(token.replace(/[),.:;]+$/, '')))) continue;
      if (!link && GENERATED.test(token)) continue;
      const before = `${previous}\n${line.slice(0, at)}`;
      const upstream = !OWN_PATH.test(token) && !link && UPSTREAM_REPOSITORIES.some((name) => new RegExp(`(?<![\\w/-])${name.replace(/[.]/g, '\\.')}(?![\\w/-])`).test(before));
      // A bare file name may sit in a folder of ours named earlier on the line (`src/optim/`: `paging.ts`).
      const folders = [...line.slice(0, at).matchAll(/`([^`\s]+\/)`/g)].map((m) => m[1]!).filter((f) => OWN_PATH.test(f));
      found.push({ path: link ? token : token.replace(/[),.:;]+$/, ''), line: i + 1, upstream, folders });
    }
  });
  return found;
}

/**
 * Files named in `text` (read from `file`, relative to the repo) that do not exist, and mentions of
 * material outside the repo. Code spans and links are resolved from the repo root; relative links
 * from the file's folder.
 */
export function namedFileProblems(where: string, text: string, fileDir = REPO_ROOT): string[] {
  const problems: string[] = [];
  for (const { path, line, upstream, folders } of namedPaths(text)) {
    if (upstream) continue;
    const candidates = [join(REPO_ROOT, path), join(fileDir, path), ...(path.includes('/') ? [] : folders.map((f) => join(REPO_ROOT, f, path)))];
    const glob = path.indexOf('*');
    const exists = glob >= 0 ? existsSync(join(REPO_ROOT, dirname(path.slice(0, glob + 1)))) : candidates.some((c) => existsSync(c));
    if (!exists) problems.push(`${where} line ${line}: names \`${path}\`, which is not in the repo${OWN_PATH.test(path) ? '' : " (an upstream file? name its repository before it on the same line)"}`);
  }
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(OUTSIDE_MATERIAL)) problems.push(`${where} line ${i + 1}: "${m[0]}" points readers at material outside the repo`);
  });
  return problems;
}

/** Code comments of a code cell: `//` to the end of the line and block comments. */
const codeComments = (code: string): string => (code.match(/\/\/.*$|\/\*[\s\S]*?\*\//gm) ?? []).join('\n');

/** {@link namedFileProblems} for every prose cell and every code cell's comments of a notebook in notebooks/. */
export function notebookNamedFileProblems(file: string, nb: Notebook): string[] {
  return nb.cells.flatMap((cell, i) => {
    const text = cell.cell_type === 'code' ? codeComments(sourceText(cell)) : sourceText(cell);
    return namedFileProblems(`${file} cell ${i + 1}`, text, join(REPO_ROOT, 'notebooks'));
  });
}

// ---------------------------------------------------------------------------------------------
// Written pages of the repo

export const EN_DOCS = join(REPO_ROOT, 'docs');
export const KO_DOCS = join(REPO_ROOT, 'i18n', 'ko', 'docusaurus-plugin-content-docs', 'current');

/** The written docs pages of both locales (not the ones generated from notebooks into docs/notebooks/). */
export function writtenPages(): string[] {
  return [EN_DOCS, KO_DOCS].flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.mdx')).sort().map((f) => join(dir, f)));
}

/** Repo-relative path, for messages. */
export const repoPath = (file: string): string => relative(REPO_ROOT, file);

// ---------------------------------------------------------------------------------------------
// The built site

/** Every .html file under `dir`. */
export function htmlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return htmlFiles(path);
    return name.endsWith('.html') ? [path] : [];
  });
}

const decodeEntities = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&amp;/g, '&');

/**
 * KaTeX's error spans in a rendered page: rehype-katex renders at build time and, rather than
 * failing, writes `<span class="katex-error" title="ParseError: …">TeX</span>`. Returns `"TeX" — error`,
 * the TeX as a JSON string so that a control character in it shows.
 */
export function katexErrors(html: string): string[] {
  // Attribute order depends on the renderer (KaTeX's own markup, or React's), so read the title apart.
  return [...html.matchAll(/<span([^>]*\sclass="(?:[^"]*\s)?katex-error(?:\s[^"]*)?"[^>]*)>([^<]*)<\/span>/g)]
    .map((m) => `${JSON.stringify(decodeEntities(m[2]!))} — ${decodeEntities(/\stitle="([^"]*)"/.exec(m[1]!)?.[1] ?? 'no message')}`);
}

/** Read a built page. */
export const readPage = (file: string): string => readFileSync(file, 'utf8');
