// The interactive figures the notebook pages place (scripts/site/notebooks-to-mdx.ts turns a prose line
// `<!-- figure: NAME -->` into one of these). They run only in the browser (WebAssembly, WebGPU,
// Vega's view): the static build renders a placeholder, and widgets.tsx loads on the client.
import React from 'react';
import BrowserOnly from '@docusaurus/BrowserOnly';

type Widgets = typeof import('./widgets');

function clientOnly(name: keyof Widgets): () => React.ReactElement {
  return function ClientFigure(): React.ReactElement {
    return (
      <BrowserOnly fallback={<div className="widget">…</div>}>
        {() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- client-only module, loaded lazily as Docusaurus recommends
          const Widget = (require('./widgets') as Widgets)[name];
          return <Widget />;
        }}
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
