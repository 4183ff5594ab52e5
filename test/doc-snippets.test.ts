/**
 * Every TypeScript block that README.md and the docs (en and ko) show for copying type-checks against
 * the library's own types, imported by its package name. A renamed export, a removed option or a
 * misspelled option key in a snippet fails here, before a reader copies it. Names the prose leaves
 * to the reader (their params, initial values) are declared in SNIPPET_GLOBALS.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from './helpers.js';

/** The reader's own values that snippets refer to without defining them. */
const SNIPPET_GLOBALS = `
import type { AdamOptimizer, Param } from 'adamw-lab';
declare global {
  /** A model's params in host memory; bf16Params have dtype 'bf16'. */
  const params: Param[];
  const bf16Params: Param[];
  /** The values a bf16 param starts from. */
  const initialValues: Float32Array;
  /** An optimizer made by an earlier block of the same page. */
  const opt: AdamOptimizer;
}
export {};
`;

interface Snippet { doc: string; line: number; code: string }

const DOCS = [
  'README.md',
  ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.mdx')).map((f) => `docs/${f}`),
  ...readdirSync(join(REPO_ROOT, 'i18n/ko/docusaurus-plugin-content-docs/current')).filter((f) => f.endsWith('.mdx'))
    .map((f) => `i18n/ko/docusaurus-plugin-content-docs/current/${f}`),
];

function snippets(doc: string): Snippet[] {
  const text = readFileSync(join(REPO_ROOT, doc), 'utf8');
  const found: Snippet[] = [];
  for (const match of text.matchAll(/^```(?:ts|typescript)\b[^\n]*\n([\s\S]*?)^```/gm)) {
    found.push({ doc, line: text.slice(0, match.index).split('\n').length + 1, code: match[1]! });
  }
  return found;
}

describe('code snippets in README and docs', () => {
  const all = DOCS.flatMap(snippets);

  it('there are snippets to check, in both locales', () => {
    assert.ok(all.some((s) => s.doc === 'README.md') && all.some((s) => s.doc.startsWith('docs/')) && all.some((s) => s.doc.startsWith('i18n/ko/')),
      `found ${all.length} snippets`);
  });

  it('each type-checks against the library, imported as adamw-lab', () => {
    const dir = join(REPO_ROOT, 'build', 'doc-snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'globals.d.ts'), SNIPPET_GLOBALS);
    const files = all.map((s, k) => {
      const file = join(dir, `snippet-${k}.ts`);
      // Each block is a module of its own, so top-level await is allowed and blocks do not collide.
      writeFileSync(file, `${s.code}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram([join(dir, 'globals.d.ts'), ...files], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node', '@webgpu/types'],
      typeRoots: [join(REPO_ROOT, 'node_modules/@types'), join(REPO_ROOT, 'node_modules')],
      strict: true,
      skipLibCheck: true,
      noEmit: true,
      baseUrl: REPO_ROOT,
      paths: { 'adamw-lab': ['src/index.ts'] },
    });
    const problems = ts.getPreEmitDiagnostics(program)
      .filter((d) => d.file && files.includes(d.file.fileName))
      .map((d) => {
        const k = files.indexOf(d.file!.fileName);
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `${all[k]!.doc}:${all[k]!.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    assert.deepEqual(problems, [], `snippets that do not type-check (${relative(REPO_ROOT, dir)}):\n${problems.join('\n')}`);
  });
});
