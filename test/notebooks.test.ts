/**
 * The notebooks: bilingual form (every prose cell a Korean/English pair, none empty), the glossary,
 * no committed outputs, execution of every notebook through tslab (their cells assert what they
 * derive), and one notebook through real Jupyter with the registered tslab kernel.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  EXECUTED_DIR, formProblems, glossaryProblems, notebookFiles, readGlossary, readNotebook, type Notebook,
} from '../scripts/notebooks/format.js';
import { REPO_ROOT } from './helpers.js';

const files = notebookFiles();
const glossary = readGlossary();

function notebook(cells: Array<[string, string, 'ko' | 'en' | undefined]>): Notebook {
  return {
    nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'tslab' } },
    cells: cells.map(([type, source, lang]) => ({ cell_type: type as 'markdown', metadata: lang ? { lang } : {}, source, ...(type === 'code' ? { outputs: [], execution_count: null } : {}) })),
  };
}

describe('notebook form', () => {
  it('there are notebooks, named NN-topic.ipynb', () => assert.ok(files.length >= 3, files.join(', ')));
  for (const file of files) {
    it(`${file}: tslab kernel, Korean/English prose pairs, no empty cells, no outputs`, () => {
      assert.deepEqual(formProblems(file, readNotebook(file)), []);
    });
    it(`${file}: prose follows the glossary`, () => {
      assert.deepEqual(glossaryProblems(file, readNotebook(file), glossary), []);
    });
  }
  it('the checks catch an unpaired cell, an empty cell, a missing lang, committed outputs and glossary departures', () => {
    const bad = notebook([['markdown', '# 제목', 'ko'], ['code', 'x', undefined], ['markdown', '', 'en'], ['markdown', 'no language', undefined]]);
    bad.cells[1]!.outputs = [{ output_type: 'stream', name: 'stdout', text: '1' }];
    const problems = formProblems('bad.ipynb', bad).join('\n');
    assert.match(problems, /cell 1: Korean prose without its English pair/);
    assert.match(problems, /cell 2: committed with outputs/);
    assert.match(problems, /cell 3: empty markdown cell/);
    assert.match(problems, /cell 3: English prose without its Korean pair/);
    assert.match(problems, /cell 4: prose cell without metadata.lang/);
    const words = notebook([['markdown', '아담의 그래디언트와 러닝 레이트', 'ko'], ['markdown', 'Adam, the gradient and the learning rate; weight decay', 'en']]);
    const glossaryIssues = glossaryProblems('words.ipynb', words, glossary).join('\n');
    assert.match(glossaryIssues, /"아담" departs from the glossary; write "Adam"/);
    assert.match(glossaryIssues, /"그래디언트" departs from the glossary; write "기울기"/);
    assert.match(glossaryIssues, /"러닝 레이트" departs from the glossary; write "학습률"/);
    assert.match(glossaryIssues, /says "weight decay" but the Korean cell lacks the glossary's "가중치 감쇠"/);
  });
});

describe('notebook execution', () => {
  it('every notebook executes through tslab, and the executed copies hold outputs for every code cell', () => {
    execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/notebooks/run.ts'), '--force'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
    for (const file of files) {
      const executed = JSON.parse(readFileSync(join(EXECUTED_DIR, file), 'utf8')) as Notebook;
      executed.cells.filter((c) => c.cell_type === 'code').forEach((cell, k) => {
        assert.equal(cell.execution_count, k + 1, `${file}: code cell ${k + 1} was not executed`);
        assert.ok(!(cell.outputs ?? []).some((o) => o.name === 'stderr'), `${file}: code cell ${k + 1} wrote to stderr`);
      });
      const outputs = executed.cells.flatMap((c) => c.outputs ?? []);
      // The code-mapping notebook sets configs side by side; there is nothing there to plot.
      if (!file.includes('code-mapping')) {
        assert.ok(outputs.some((o) => o.output_type === 'display_data' && String(o.data?.['image/svg+xml']).startsWith('<svg')), `${file}: no SVG plot`);
      }
    }
  });

  it('a failing cell is reported with notebook, cell number and error, and the run exits non-zero', () => {
    // A broken copy of notebook 1, inside the repo so that 'adamw-lab' resolves as it does in notebooks/.
    const dir = join(REPO_ROOT, 'build', 'test-notebooks');
    mkdirSync(join(dir, 'notebooks'), { recursive: true });
    const broken = readNotebook(files[0]!);
    const code = broken.cells.filter((c) => c.cell_type === 'code');
    code[1]!.source = "throw new Error('deliberately broken');";
    writeFileSync(join(dir, 'notebooks', files[0]!), JSON.stringify(broken));
    const brokenCell = broken.cells.indexOf(code[1]!) + 1;
    assert.throws(
      () => execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/notebooks/run.ts'), '--force', `--notebooks=${join(dir, 'notebooks')}`, `--out=${join(dir, 'out')}`],
        { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' }),
      (e: { status?: number; stderr?: string }) => {
        assert.equal(e.status, 1);
        assert.match(String(e.stderr), new RegExp(`${files[0]!.replace('.', '\\.')} cell ${brokenCell} failed`));
        assert.match(String(e.stderr), /deliberately broken/);
        return true;
      },
    );
  });

  const jupyter = existsSync('/usr/bin/jupyter') && (() => {
    try {
      execFileSync('/usr/bin/jupyter', ['nbconvert', '--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it('notebook 1 runs in real Jupyter (nbconvert + nbclient) with the registered tslab kernel', { skip: !jupyter && 'Debian jupyter-nbconvert is not installed (.ci/run installs it)' }, () => {
    const prefix = mkdtempSync(join(tmpdir(), 'adamw-lab-jupyter-'));
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/tslab/bin/tslab'), 'install', '--python=/usr/bin/python3', `--binary=${join(REPO_ROOT, 'node_modules/.bin/tslab')}`, `--prefix=${prefix}`], { cwd: REPO_ROOT, stdio: 'pipe' });
    const env = { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter') };
    execFileSync('/usr/bin/jupyter', ['nbconvert', '--to', 'notebook', '--execute', join(REPO_ROOT, 'notebooks', files[0]!), '--output-dir', prefix], { cwd: join(REPO_ROOT, 'notebooks'), env, stdio: 'pipe' });
    const executed = JSON.parse(readFileSync(join(prefix, files[0]!), 'utf8')) as Notebook;
    const outputs = executed.cells.flatMap((c) => c.outputs ?? []);
    assert.ok(outputs.some((o) => o.output_type === 'display_data' && String(o.data?.['image/svg+xml']).startsWith('<svg')), 'an SVG plot came back through Jupyter');
    assert.ok(outputs.some((o) => o.output_type === 'stream' && String(o.text).includes('largest relative difference')));
  });
});
