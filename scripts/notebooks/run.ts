/**
 * Execute every notebook through the tslab kernel (`npm run notebooks`), the way Jupyter would:
 * tslab's own request handler runs each code cell in notebooks/, collecting stdout, stderr and
 * display data (tslab.display). Executed copies, with outputs, go to build/notebooks/, where the docs
 * build reads them; the committed notebooks stay without outputs.
 *
 * Progress is printed per notebook and per cell. The first failing cell is reported (notebook, cell
 * number, error) and the run exits non-zero. A notebook is re-executed only when its code cells, the
 * built library or the helper modules beside the notebooks (`notebooks/*.ts`) changed (pass --force to run all);
 * when only its prose changed, the executed copy takes the new prose and keeps its outputs.
 *
 * Usage: tsx scripts/notebooks/run.ts [--force] [--notebooks=DIR] [--out=DIR] [NAME-FILTER …]
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chooseVulkanDriver } from '../vulkan-driver';
import { EXECUTED_DIR, NOTEBOOK_DIR, REPO_ROOT, notebookFiles, readNotebook, sourceText, type Notebook, type NotebookOutput } from './format';

interface TslabHandler {
  handleExecute(
    req: { code: string },
    writeStream: (name: 'stdout' | 'stderr', text: string) => void,
    writeDisplayData: (data: { data: Record<string, string>; metadata: Record<string, unknown> }, update: boolean) => void,
  ): Promise<{ status: string }>;
}

/* eslint-disable @typescript-eslint/no-require-imports -- tslab's internals are CommonJS without types */
const { createConverter } = require('tslab/dist/converter') as { createConverter: (o: { isBrowser: boolean }) => { close(): void } };
const { createExecutor } = require('tslab/dist/executor') as {
  createExecutor: (root: string, convs: unknown, console: { log(...a: unknown[]): void; error(...a: unknown[]): void }) => { close(): void };
};
const { JupyterHandlerImpl } = require('tslab/dist/jupyter') as { JupyterHandlerImpl: new (executor: unknown, isJs: boolean) => TslabHandler };
/* eslint-enable @typescript-eslint/no-require-imports */

const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);
const say = (text: string): void => {
  realStdoutWrite(`${text}\n`);
};

/** Hash of the built library: a rebuilt library re-executes every notebook. */
function libraryHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.js')) hash.update(readFileSync(path));
    }
  };
  walk(join(REPO_ROOT, 'dist', 'cjs'));
  return hash.digest('hex');
}

/** Hash of the TypeScript modules beside the notebooks (their helpers, e.g. notebooks/lab.ts). */
function localModulesHash(notebookDir: string): string {
  const hash = createHash('sha256');
  for (const entry of readdirSync(notebookDir).filter((f) => f.endsWith('.ts')).sort()) {
    hash.update(entry).update('\0').update(readFileSync(join(notebookDir, entry))).update('\0');
  }
  return hash.digest('hex');
}

function codeHash(nb: Notebook, dependencies: string): string {
  const hash = createHash('sha256').update(dependencies);
  for (const cell of nb.cells) if (cell.cell_type === 'code') hash.update(sourceText(cell)).update('\0');
  return hash.digest('hex');
}

/** Execute one notebook; returns the executed copy, or the failing cell's report. */
async function execute(file: string, nb: Notebook, notebookDir: string): Promise<{ executed: Notebook } | { failure: string }> {
  // As in Jupyter, the kernel's working directory is the notebook's: tslab compiles `import … from './lab'`
  // relative to it (its converter reads the directory when it is created).
  const cwd = process.cwd();
  process.chdir(notebookDir);
  try {
    return await executeHere(file, nb, notebookDir);
  } finally {
    process.chdir(cwd);
  }
}

async function executeHere(file: string, nb: Notebook, notebookDir: string): Promise<{ executed: Notebook } | { failure: string }> {
  const node = createConverter({ isBrowser: false });
  const browser = createConverter({ isBrowser: true });
  const convs = { node, browser, close: () => { node.close(); browser.close(); } };
  const executor = createExecutor(notebookDir, convs, { log: (...a) => console.log(...a), error: (...a) => console.error(...a) });
  const handler = new JupyterHandlerImpl(executor, false);
  const executed: Notebook = JSON.parse(JSON.stringify(nb)) as Notebook;
  const codeCells = executed.cells.filter((c) => c.cell_type === 'code');
  let count = 0;
  try {
    for (const [k, cell] of executed.cells.entries()) {
      if (cell.cell_type !== 'code') continue;
      count++;
      const outputs: NotebookOutput[] = [];
      const started = Date.now();
      const reply = await handler.handleExecute(
        { code: sourceText(cell) },
        (name, text) => {
          const last = outputs[outputs.length - 1];
          if (last?.output_type === 'stream' && last.name === name) last.text = `${String(last.text)}${text}`;
          else outputs.push({ output_type: 'stream', name, text });
        },
        ({ data, metadata }) => outputs.push({ output_type: 'display_data', data, metadata }),
      );
      process.stdout.write = realStdoutWrite;
      process.stderr.write = realStderrWrite;
      cell.outputs = outputs;
      cell.execution_count = count;
      say(`  cell ${k + 1} (code ${count}/${codeCells.length}) ${reply.status} in ${Date.now() - started} ms`);
      if (reply.status !== 'ok') {
        const error = outputs.filter((o) => o.name === 'stderr').map((o) => String(o.text)).join('').trim() || reply.status;
        return { failure: `${file} cell ${k + 1} failed:\n${error}` };
      }
    }
  } finally {
    process.stdout.write = realStdoutWrite;
    process.stderr.write = realStderrWrite;
    executor.close();
  }
  executed.metadata = { ...executed.metadata, adamw_lab: { executed: true } };
  return { executed };
}

/**
 * The source notebook's cells with the outputs of an executed copy whose code cells are the same
 * (same code hash): prose edits reach build/notebooks/ without running the notebook again.
 */
function withProseOf(source: Notebook, executed: Notebook): Notebook {
  const executedCode = executed.cells.filter((c) => c.cell_type === 'code');
  let k = 0;
  return { ...executed, cells: source.cells.map((c) => (c.cell_type === 'code' ? executedCode[k++] ?? c : c)) };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const force = args.includes('--force');
  const only = args.filter((a) => !a.startsWith('--'));
  const notebookDir = option('notebooks') ?? NOTEBOOK_DIR;
  const outDir = option('out') ?? EXECUTED_DIR;
  mkdirSync(outDir, { recursive: true });
  // backend 'webgpu' cells: a GPU's Vulkan driver when there is one, else SwiftShader (the CPU driver).
  if (chooseVulkanDriver()) say('notebooks: WebGPU cells run on SwiftShader, a CPU Vulkan driver (no GPU driver found)');
  const cachePath = join(outDir, 'cache.json');
  const cache = existsSync(cachePath) ? (JSON.parse(readFileSync(cachePath, 'utf8')) as Record<string, string>) : {};
  const dependencies = libraryHash() + localModulesHash(notebookDir);
  const files = notebookFiles(notebookDir).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
  let ran = 0;
  for (const [n, file] of files.entries()) {
    const nb = readNotebook(file, notebookDir);
    const key = codeHash(nb, dependencies);
    const out = join(outDir, file);
    if (!force && cache[file] === key && existsSync(out)) {
      // Same code, same outputs; but the prose may have changed, and the site is built from this copy.
      const kept = readFileSync(out, 'utf8');
      const updated = `${JSON.stringify(withProseOf(nb, JSON.parse(kept) as Notebook), null, 1)}\n`;
      if (updated === kept) {
        say(`[${n + 1}/${files.length}] ${file}: unchanged, kept ${relative(REPO_ROOT, out)}`);
      } else {
        writeFileSync(out, updated);
        say(`[${n + 1}/${files.length}] ${file}: unchanged code, prose updated in ${relative(REPO_ROOT, out)}`);
      }
      continue;
    }
    say(`[${n + 1}/${files.length}] ${file}: executing`);
    const started = Date.now();
    const result = await execute(file, nb, notebookDir);
    if ('failure' in result) {
      realStderrWrite(`\n${result.failure}\n`);
      process.exit(1);
    }
    writeFileSync(out, `${JSON.stringify(result.executed, null, 1)}\n`);
    cache[file] = key;
    writeFileSync(cachePath, JSON.stringify(cache, null, 1));
    ran++;
    say(`[${n + 1}/${files.length}] ${file}: done in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${relative(REPO_ROOT, out)}`);
  }
  say(`${files.length} notebooks, ${ran} executed, ${files.length - ran} unchanged`);
  process.exit(0);
}

void main();
