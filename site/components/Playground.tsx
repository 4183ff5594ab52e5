// The playground runs only in the browser (WebAssembly, WebGPU, Vega's view): the static build
// renders a placeholder, and the widget module loads on the client.
import React from 'react';
import BrowserOnly from '@docusaurus/BrowserOnly';

/** The playground widget, loaded on the client. */
export default function Playground(): React.ReactElement {
  return (
    <BrowserOnly fallback={<div className="widget">…</div>}>
      {() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- client-only module, loaded lazily as Docusaurus recommends
        const Widget = (require('./PlaygroundWidget') as typeof import('./PlaygroundWidget')).default;
        return <Widget />;
      }}
    </BrowserOnly>
  );
}
