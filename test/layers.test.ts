/**
 * One-way layers in src/: the import graph (every relative `import`/`export … from`, type-only ones
 * included) has no cycle, and every import goes down the layers. eslint.config.mjs enforces the
 * direction file by file (no-restricted-imports); a cycle needs the whole graph, hence this test.
 * Before issue 18's refactor this test found 1 cycle (optim/adam-optimizer.ts ⇄ checkpoint/checkpoint.ts)
 * and 16 upward imports: 11 from backends/ into optim/, 3 from checkpoint/ and 2 from types.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './helpers.js';

const SRC = join(REPO_ROOT, 'src');

/** Layers, lowest first; a file may import from its own layer and the ones below. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['util/', 'version.ts'],
  ['rules/'],
  ['core/', 'types.ts'],
  ['backends/'],
  ['checkpoint/'],
  ['optim/'],
  ['index.ts', 'clip.ts', 'schedule.ts', 'memory.ts', 'tfjs/'],
];

/** The layer of a path relative to src/. */
function layerOf(file: string): number {
  const layer = LAYERS.findIndex((prefixes) => prefixes.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));
  if (layer < 0) throw new Error(`src/${file} is in no layer: add it to LAYERS (and to eslint.config.mjs)`);
  return layer;
}

/** src/'s import graph: file (relative to src/) → the files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const source = readFileSync(path, 'utf8');
        const targets = [...source.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'/gm)]
          .map((m) => relative(SRC, resolve(dirname(path), m[1] ?? m[2]!)).replace(/\.js$/, '.ts'));
        graph.set(relative(SRC, path), targets);
      }
    }
  };
  walk(SRC);
  return graph;
}

/** The cycles of a graph: each strongly connected component with more than one file, or a file importing itself. */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** Imports that go up the layers, as 'from -> to'. */
function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([from, targets]) => targets.filter((to) => layerOf(to) > layerOf(from)).map((to) => `${from} -> ${to}`));
}

describe('one-way layers in src/', () => {
  const graph = importGraph();

  it('reads the whole graph (every file of src/, hundreds of imports)', () => {
    assert.ok(graph.size > 40, `${graph.size} files`);
    assert.ok([...graph.values()].flat().length > 150);
    for (const targets of graph.values()) for (const to of targets) assert.ok(graph.has(to), `import of a missing file src/${to}`);
  });

  it('has no import cycle', () => {
    assert.deepEqual(importCycles(graph), []);
  });

  it('imports only down the layers (none from backends/ into optim/)', () => {
    assert.deepEqual(upwardImports(graph), []);
  });

  it('finds a crafted cycle and a crafted upward import', () => {
    const bad = new Map(graph);
    bad.set('backends/js.ts', [...graph.get('backends/js.ts')!, 'optim/adam-optimizer.ts']);
    assert.deepEqual(upwardImports(bad), ['backends/js.ts -> optim/adam-optimizer.ts']);
    const cycles = importCycles(bad);
    assert.equal(cycles.length, 1);
    assert.ok(cycles[0]!.includes('backends/js.ts') && cycles[0]!.includes('optim/adam-optimizer.ts'), cycles[0]!.join(', '));
    assert.deepEqual(importCycles(new Map([['a.ts', ['a.ts']]])), [['a.ts']]);
  });
});
