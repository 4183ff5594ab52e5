// The interactive figures the notebook pages place (scripts/site/notebooks-to-mdx.ts turns a prose line
// `<!-- figure: NAME -->` into one of these). They run only in the browser (WebAssembly, WebGPU,
// Vega's view): widgets.tsx loads on the client only (../client-only.tsx), so the six pages and the
// playground share one chunk of it (and of the library) instead of each page's bundle carrying its own copy.
import { clientOnly } from '../client-only';

type Widgets = typeof import('./widgets');

/** The figure whose widget is `name` in widgets.tsx. */
function figure(name: keyof Widgets): ReturnType<typeof clientOnly> {
  return clientOnly(() => import('./widgets').then((widgets) => ({ default: widgets[name] })));
}

/** Notebook 01: the EMA weight kernel (1 − β)βᵏ with a β slider. */
export const EmaKernelFigure = figure('EmaKernelWidget');
/** Notebook 03: raw and bias-corrected moments with β1 and β2 sliders. */
export const BiasCorrectionFigure = figure('BiasCorrectionWidget');
/** Notebook 04: Adam + L2 against AdamW with a λ slider. */
export const L2VsDecoupledFigure = figure('L2VsDecoupledWidget');
/** Notebook 07: 8-bit blockwise error against block size and outlier size. */
export const BlockwiseErrorFigure = figure('BlockwiseErrorWidget');
/** Notebook 09: AdamW against StableAdamW on a gradient spike. */
export const StableSpikeFigure = figure('StableSpikeWidget');
/** Notebook 10: the lr × weight-decay grid for AdamW and Adam + L2. */
export const LrWdGridFigure = figure('LrWdGridWidget');
