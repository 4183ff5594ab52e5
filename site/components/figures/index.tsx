// The interactive figures the notebook pages place (scripts/site/notebooks-to-mdx.ts turns a prose line
// `<!-- figure: NAME -->` into one of these). They run only in the browser (WebAssembly, WebGPU,
// Vega's view): the static build renders a placeholder, and widgets.tsx loads on the client through a
// dynamic import, so the six pages and the playground share one chunk of it (and of the library)
// instead of each page's bundle carrying its own copy.
import React, { lazy, Suspense } from 'react';
import BrowserOnly from '@docusaurus/BrowserOnly';

type Widgets = typeof import('./widgets');

const placeholder = <div className="widget">…</div>;

function clientOnly(name: keyof Widgets): () => React.ReactElement {
  const Widget = lazy(() => import('./widgets').then((widgets) => ({ default: widgets[name] })));
  return function ClientFigure(): React.ReactElement {
    return (
      <BrowserOnly fallback={placeholder}>
        {() => (
          <Suspense fallback={placeholder}>
            <Widget />
          </Suspense>
        )}
      </BrowserOnly>
    );
  };
}

/** Notebook 01: the EMA weight kernel (1 − β)βᵏ with a β slider. */
export const EmaKernelFigure = clientOnly('EmaKernelWidget');
/** Notebook 03: raw and bias-corrected moments with β1 and β2 sliders. */
export const BiasCorrectionFigure = clientOnly('BiasCorrectionWidget');
/** Notebook 04: Adam + L2 against AdamW with a λ slider. */
export const L2VsDecoupledFigure = clientOnly('L2VsDecoupledWidget');
/** Notebook 07: 8-bit blockwise error against block size and outlier size. */
export const BlockwiseErrorFigure = clientOnly('BlockwiseErrorWidget');
/** Notebook 09: AdamW against StableAdamW on a gradient spike. */
export const StableSpikeFigure = clientOnly('StableSpikeWidget');
/** Notebook 10: the lr × weight-decay grid for AdamW and Adam + L2. */
export const LrWdGridFigure = clientOnly('LrWdGridWidget');
