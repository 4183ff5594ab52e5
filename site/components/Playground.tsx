// The playground runs only in the browser (WebAssembly, WebGPU, Vega's view): the static build
// renders a placeholder, and the widget module loads on the client through a dynamic import (one
// chunk, whose library and Vega modules the notebook pages' figures share).
import React, { lazy, Suspense } from 'react';
import BrowserOnly from '@docusaurus/BrowserOnly';

const Widget = lazy(() => import('./PlaygroundWidget'));
const placeholder = <div className="widget">…</div>;

/** The playground widget, loaded on the client. */
export default function Playground(): React.ReactElement {
  return (
    <BrowserOnly fallback={placeholder}>
      {() => (
        <Suspense fallback={placeholder}>
          <Widget />
        </Suspense>
      )}
    </BrowserOnly>
  );
}
