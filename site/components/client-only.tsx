// Widgets that run only in the browser (WebAssembly, WebGPU, Vega's view): the static build renders a
// placeholder, and the widget's module loads on the client through a dynamic import, so the pages that
// use widgets share one chunk of the library and Vega instead of each page's bundle carrying its own.
import React, { lazy, Suspense, type ComponentType } from 'react';
import BrowserOnly from '@docusaurus/BrowserOnly';

const placeholder = <div className="widget">…</div>;

/** A component that renders `load()`'s widget on the client only. */
export function clientOnly(load: () => Promise<{ default: ComponentType }>): () => React.ReactElement {
  const Widget = lazy(load);
  return function ClientOnlyWidget(): React.ReactElement {
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
