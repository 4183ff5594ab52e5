/**
 * The notebooks: bilingual form (every prose cell a Korean/English pair, none empty), the glossary,
 * no committed outputs, no control characters, display math, Exercises and References in both
 * languages, every decimal number in prose asserted by a code cell, no named file that is missing, execution of every notebook through tslab (their cells assert what they
 * derive), and one notebook through real Jupyter with the registered tslab kernel.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  EXECUTED_DIR, formProblems, glossaryProblems, notebookFiles, readGlossary, readNotebook, sourceText, type Notebook,
} from '../scripts/notebooks/format.js';
import {
  notebookControlCharacterProblems, notebookNamedFileProblems, notebookSectionProblems, proseNumberProblems,
} from '../scripts/site/prose-checks.js';
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
    it(`${file}: no control characters in any cell`, () => {
      assert.deepEqual(notebookControlCharacterProblems(file, readNotebook(file)), []);
    });
    it(`${file}: display math, Exercises and References in both languages; solutions folded`, () => {
      assert.deepEqual(notebookSectionProblems(file, readNotebook(file)), []);
    });
    it(`${file}: every decimal number in prose before the exercises appears in a code cell`, () => {
      assert.deepEqual(proseNumberProblems(file, readNotebook(file)), []);
    });
    it(`${file}: every file it names exists; nothing points outside the repo`, () => {
      assert.deepEqual(notebookNamedFileProblems(file, readNotebook(file)), []);
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

  it('the glossary catches each avoided spelling of the terms chosen for words used two ways', () => {
    const cases: Array<[string, string]> = [
      ['8-bit 상태를 씁니다', '8비트'], ['웜업 스텝', '워밍업'], ['전체 미세 조정', '전체 파인튜닝'], ['미세 조정', '전체 파인튜닝'],
      ['재부호화합니다', '재양자화'], ['치우침이 있습니다', '편향'], ['중간값은 float64', '중간 계산'], ['한 번의 통과로', '단일 패스'],
      ['위쪽 16비트', '상위 16비트'], ['고리(ring)를 이룹니다', '링 버퍼'], ['10진 자릿수(decade)', '10배 구간'],
      ['정상적이라 가정하면', '정상성'], ['GPU에 사는 모델', '상주'],
    ];
    for (const [korean, chosen] of cases) {
      const issues = glossaryProblems('terms.ipynb', notebook([['markdown', korean, 'ko'], ['markdown', 'text', 'en']]), glossary).join('\n');
      assert.ok(issues.includes(`write "${chosen}"`), `${korean}: ${issues || 'not caught'}`);
    }
    // Identifiers, code and the chosen spellings are not caught.
    const fine = notebook([['markdown', '`AdamW8bit`의 8비트 상태, 워밍업, 링 버퍼, 알고리즘, 중앙값, GPU에 상주하는 가중치', 'ko'], ['markdown', 'text', 'en']]);
    assert.deepEqual(glossaryProblems('fine.ipynb', fine, glossary), []);
    // An English term without its Korean term in the pair is caught.
    const pair = notebook([['markdown', '상태는 메모리에 있습니다', 'ko'], ['markdown', 'The 8-bit state is resident.', 'en']]);
    const pairIssues = glossaryProblems('pair.ipynb', pair, glossary).join('\n');
    assert.match(pairIssues, /says "8-bit" but the Korean cell lacks the glossary's "8비트"/);
    assert.match(pairIssues, /says "resident" but the Korean cell lacks the glossary's "상주"/);
    // A figure marker is an HTML comment, invisible prose: its name ("bias-correction") is no English term.
    const marked = notebook([['markdown', '모멘트를 봅니다.\n\n<!-- figure: bias-correction -->', 'ko'], ['markdown', 'See the moments.\n\n<!-- figure: bias-correction -->', 'en']]);
    assert.deepEqual(glossaryProblems('marked.ipynb', marked, glossary), []);
  });

  it('the checks catch control characters, missing sections, unfolded solutions, unasserted numbers and missing files', () => {
    const bad = notebook([
      ['markdown', '# 제목\n\n$|c| \u0007pprox 10^{-3}$, 학습률 0.0526, 7.15e-7, 정수 1000, 버전 0.16.47, arXiv:2304.13013', 'ko'],
      ['markdown', '# Title\n\n$\theta$ moves by 0.0526 and 1e-3; see `src/rules/nothing.ts`, [the spec](../ALGORITHMS.md) and the seed documents\n\n## The effect of $\\theta$', 'en'],
      ['code', 'const x = 0.0526; // see `test/missing.test.ts`', undefined],
      ['markdown', '## 연습 문제\n\n1. 0.125를 구하세요.\n\n<details>\n<summary>풀이</summary>\n답\n</details>', 'ko'],
      ['markdown', '## Exercises\n\n1. Find 0.125.\n\n<details>\n<summary>Answer</summary>\n\nIt is $1/8$.\n\n</details>\n\n<details>', 'en'],
    ]);
    const control = notebookControlCharacterProblems('bad.ipynb', bad).join('\n');
    assert.match(control, /bad\.ipynb cell 1 line 3 col 6: control character U\+0007/);
    assert.match(control, /bad\.ipynb cell 2 line 3 col 2: control character U\+0009/);
    const sections = notebookSectionProblems('bad.ipynb', bad).join('\n');
    assert.match(sections, /no display math \(\$\$ … \$\$\) in the ko prose/);
    assert.match(sections, /no display math \(\$\$ … \$\$\) in the en prose/);
    assert.match(sections, /no ko cell with the line "## 참고 문헌"/);
    assert.match(sections, /no en cell with the line "## References"/);
    assert.doesNotMatch(sections, /"## 연습 문제"|"## Exercises"/);
    assert.match(sections, /cell 4: 1 <details>, 1 <\/details>, 0 folded/);
    assert.match(sections, /cell 5: 2 <details>, 1 <\/details>, 1 folded/);
    assert.match(sections, /cell 5: <summary>Answer<\/summary>, expected <summary>Solution<\/summary>/);
    assert.match(sections, /cell 2: heading "## The effect of \$\\theta\$" has \$math\$/);
    const numbers = proseNumberProblems('bad.ipynb', bad);
    assert.deepEqual(numbers, [
      'bad.ipynb cell 1 (ko): 7.15e-7 is stated in prose but appears in no code cell',
      'bad.ipynb cell 2 (en): 1e-3 is stated in prose but appears in no code cell',
    ]);
    const files = notebookNamedFileProblems('bad.ipynb', bad).join('\n');
    assert.match(files, /cell 2 line 3: names `src\/rules\/nothing\.ts`, which is not in the repo/);
    assert.match(files, /cell 2 line 3: names `\.\.\/ALGORITHMS\.md`/);
    assert.match(files, /cell 2 line 3: "ALGORITHMS\.md" points readers at material outside the repo/);
    assert.match(files, /cell 2 line 3: "seed documents" points readers at material outside the repo/);
    assert.match(files, /cell 3 line 1: names `test\/missing\.test\.ts`/);
    // An upstream file named after its repository, an existing file of ours and random seeds pass.
    const good = notebook([
      ['markdown', '# T\n\nbitsandbytes `bitsandbytes/functional.py`, diffusion-pipe (`optimizers/adamw_8bit.py`, `train.py`), `src/rules/adam.ts`, [알고리즘과 출처](../docs/variants.mdx), the seeds 1 and 2 of `seededRandom`', 'ko'],
      ['markdown', '# T', 'en'],
    ]);
    assert.deepEqual(notebookNamedFileProblems('good.ipynb', good), []);
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
      assert.ok(outputs.some((o) => o.output_type === 'display_data' && String(o.data?.['image/svg+xml']).startsWith('<svg')), `${file}: no SVG plot`);
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
    copyFileSync(join(REPO_ROOT, 'notebooks', 'lab.ts'), join(dir, 'notebooks', 'lab.ts'));
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

  it('a notebook that imports ./lab runs there, and runs again when lab.ts changes (and only then)', () => {
    const dir = join(REPO_ROOT, 'build', 'test-notebooks-lab');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'notebooks'), { recursive: true });
    const tiny = notebook([['code', "import { seeded, normalFrom } from './lab';\nconst draw = seeded(2026);\nconsole.log(`first draws ${draw()} ${normalFrom(seeded(7))()}`);", undefined]]);
    writeFileSync(join(dir, 'notebooks', '01-tiny.ipynb'), JSON.stringify(tiny));
    copyFileSync(join(REPO_ROOT, 'notebooks', 'lab.ts'), join(dir, 'notebooks', 'lab.ts'));
    const run = (): string => execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/notebooks/run.ts'), `--notebooks=${join(dir, 'notebooks')}`, `--out=${join(dir, 'out')}`],
      { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
    assert.match(run(), /01-tiny\.ipynb: executing/);
    // mulberry32 from seed 2026: the first draw, computed independently of lab.ts with the same constants.
    const executed = JSON.parse(readFileSync(join(dir, 'out', '01-tiny.ipynb'), 'utf8')) as Notebook;
    const printed = String(executed.cells[0]!.outputs?.[0]?.text);
    let a = (2026 + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    a = ((t ^ (t >>> 14)) >>> 0);
    assert.ok(printed.startsWith(`first draws ${a / 4294967296} `), printed);
    assert.match(run(), /01-tiny\.ipynb: unchanged/);
    // A prose-only change (a figure marker, say) is not re-executed, but the executed copy takes the new prose.
    const prose = notebook([['markdown', '<!-- figure: ema-kernel -->', 'en'], ...tiny.cells.map((c) => ['code', sourceText(c), undefined] as [string, string, undefined])]);
    writeFileSync(join(dir, 'notebooks', '01-tiny.ipynb'), JSON.stringify(prose));
    assert.match(run(), /01-tiny\.ipynb: unchanged code, prose updated/);
    const refreshed = JSON.parse(readFileSync(join(dir, 'out', '01-tiny.ipynb'), 'utf8')) as Notebook;
    assert.deepEqual(refreshed.cells.map((c) => c.cell_type), ['markdown', 'code']);
    assert.equal(sourceText(refreshed.cells[0]!), '<!-- figure: ema-kernel -->');
    assert.equal(String(refreshed.cells[1]!.outputs?.[0]?.text), printed, 'the outputs are kept');
    appendFileSync(join(dir, 'notebooks', 'lab.ts'), '\n// changed\n');
    assert.match(run(), /01-tiny\.ipynb: executing/);
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
    // Notebook 1 by name: the lineage notebook (00) sorts first.
    const firstMoment = files.find((f) => f.startsWith('01-'))!;
    execFileSync('/usr/bin/jupyter', ['nbconvert', '--to', 'notebook', '--execute', join(REPO_ROOT, 'notebooks', firstMoment), '--output-dir', prefix], { cwd: join(REPO_ROOT, 'notebooks'), env, stdio: 'pipe' });
    const executed = JSON.parse(readFileSync(join(prefix, firstMoment), 'utf8')) as Notebook;
    const outputs = executed.cells.flatMap((c) => c.outputs ?? []);
    assert.ok(outputs.some((o) => o.output_type === 'display_data' && String(o.data?.['image/svg+xml']).startsWith('<svg')), 'an SVG plot came back through Jupyter');
    assert.ok(outputs.some((o) => o.output_type === 'stream' && String(o.text).includes('largest relative difference')));
  });
});
