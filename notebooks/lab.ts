/**
 * The notebooks' helpers: a plot shown as SVG in the kernel, and seeded random numbers so that every
 * run draws the same numbers and figures. A notebook imports them with `import { plot, normal } from './lab'`
 * (tslab compiles this file beside the notebook, in the runner and in Jupyter alike); the library
 * itself is imported by its package name, `adamw-lab`, as a reader's own code would.
 * @module
 */
import * as tslab from 'tslab';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Render a Vega-Lite spec to SVG here in the kernel and show it as the cell's output. */
export async function plot(spec: TopLevelSpec): Promise<void> {
  const styled = { ...spec, config: { legend: { labelLimit: 360 }, ...spec.config } } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(styled).spec), { renderer: 'none' });
  tslab.display.svg(await view.toSVG());
}

/** Uniform numbers in [0, 1) from a seed (mulberry32): the same seed gives the same sequence. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal numbers from a uniform source (Box–Muller; 1 − u keeps the logarithm finite). */
export function normalFrom(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * The notebook's stream: uniform numbers seeded with 2026, and standard normals drawn from it. One
 * stream per kernel: cells that draw continue where the previous draw stopped, so run the notebook
 * top to bottom (or restart the kernel) to see the numbers its text states.
 */
export const uniform = seeded(2026);
export const normal = normalFrom(uniform);
