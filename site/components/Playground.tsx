// The playground, loaded on the client only (./client-only.tsx): its widget module shares one chunk
// of the library and Vega with the notebook pages' figures.
import { clientOnly } from './client-only';

/** The playground widget, loaded on the client. */
const Playground = clientOnly(() => import('./PlaygroundWidget'));
export default Playground;
