/**
 * The notebooks' format: nbformat 4 with the tslab kernel, every prose cell a Korean/English pair
 * (`metadata.lang` "ko" then "en"), code cells shared by both languages. Shared by the runner, the
 * checks in test/notebooks.test.ts and the docs converter.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NotebookOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error';
  name?: 'stdout' | 'stderr';
  text?: string | string[];
  data?: Record<string, string | string[]>;
  metadata?: Record<string, unknown>;
}

export interface NotebookCell {
  id?: string;
  cell_type: 'markdown' | 'code' | 'raw';
  metadata: { lang?: 'ko' | 'en'; [key: string]: unknown };
  source: string | string[];
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export const REPO_ROOT = join(__dirname, '..', '..');
export const NOTEBOOK_DIR = join(REPO_ROOT, 'notebooks');
export const EXECUTED_DIR = join(REPO_ROOT, 'build', 'notebooks');

/** The cell's source as one string. */
export function sourceText(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

/** notebooks/NN-topic.ipynb, in order. */
export function notebookFiles(dir = NOTEBOOK_DIR): string[] {
  return readdirSync(dir).filter((f) => /^\d\d-[a-z0-9-]+\.ipynb$/.test(f)).sort();
}

export function readNotebook(file: string, dir = NOTEBOOK_DIR): Notebook {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Notebook;
}

/** Problems with a notebook's form: kernel, language pairs, empty cells, committed outputs. */
export function formProblems(file: string, nb: Notebook): string[] {
  const problems: string[] = [];
  const kernel = (nb.metadata.kernelspec as { name?: string } | undefined)?.name;
  if (kernel !== 'tslab') problems.push(`${file}: kernelspec is ${JSON.stringify(kernel)}, expected "tslab"`);
  nb.cells.forEach((cell, i) => {
    const where = `${file} cell ${i + 1}`;
    if (sourceText(cell).trim() === '') problems.push(`${where}: empty ${cell.cell_type} cell`);
    if (cell.cell_type === 'code' && ((cell.outputs?.length ?? 0) > 0 || cell.execution_count != null)) {
      problems.push(`${where}: committed with outputs (executed copies belong in build/notebooks/)`);
    }
    if (cell.cell_type !== 'markdown') return;
    const lang = cell.metadata.lang;
    if (lang === 'ko') {
      const next = nb.cells[i + 1];
      if (!next || next.cell_type !== 'markdown' || next.metadata.lang !== 'en') problems.push(`${where}: Korean prose without its English pair right after it`);
    } else if (lang === 'en') {
      const previous = nb.cells[i - 1];
      if (!previous || previous.cell_type !== 'markdown' || previous.metadata.lang !== 'ko') problems.push(`${where}: English prose without its Korean pair right before it`);
    } else {
      problems.push(`${where}: prose cell without metadata.lang "ko" or "en"`);
    }
  });
  return problems;
}

/** One glossary entry: the English term, its Korean term, and Korean renderings to avoid. */
export interface GlossaryEntry {
  en: string;
  ko: string;
  avoid?: string[];
  note?: string;
  /** The note in Korean, where it differs. */
  noteKo?: string;
}

export function readGlossary(): GlossaryEntry[] {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'glossary.json'), 'utf8')) as GlossaryEntry[];
}

/**
 * Prose that departs from the glossary: a Korean cell that uses an avoided rendering, or whose English
 * pair uses a glossary term that the Korean cell does not render as the glossary says.
 */
export function glossaryProblems(file: string, nb: Notebook, glossary: GlossaryEntry[]): string[] {
  const problems: string[] = [];
  // Terms inside code spans, code blocks and math are identifiers or symbols, not prose; an HTML
  // comment (a figure marker such as `<!-- figure: bias-correction -->`) is not shown at all.
  const prose = (text: string): string => text.replace(/<!--[\s\S]*?-->/g, ' ').replace(/```[\s\S]*?```/g, ' ').replace(/`[^`]*`/g, ' ').replace(/\$\$[\s\S]*?\$\$/g, ' ').replace(/\$[^$]*\$/g, ' ');
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'markdown' || cell.metadata.lang !== 'ko') return;
    const ko = prose(sourceText(cell));
    const en = prose(sourceText(nb.cells[i + 1] ?? cell)).toLowerCase();
    for (const entry of glossary) {
      for (const avoided of entry.avoid ?? []) {
        if (ko.includes(avoided)) problems.push(`${file} cell ${i + 1}: "${avoided}" departs from the glossary; write "${entry.ko}" (${entry.en})`);
      }
      if (new RegExp(`\\b${entry.en.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).test(en) && !ko.toLowerCase().includes(entry.ko.toLowerCase())) {
        problems.push(`${file} cell ${i + 1}: the English pair says "${entry.en}" but the Korean cell lacks the glossary's "${entry.ko}"`);
      }
    }
  });
  return problems;
}
