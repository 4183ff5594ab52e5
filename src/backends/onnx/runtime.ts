/**
 * Loads onnxruntime-node, an optional peer dependency, on first use. Browser bundles get
 * runtime-browser.ts instead (package.json "browser" field), so bundlers never reach the native addon.
 * @module
 */
export type Ort = typeof import('onnxruntime-node');

/** onnxruntime-node, or an error that says how to install it. */
export function loadOrt(owner: string): Ort {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer dependency, loaded on use
    return require('onnxruntime-node') as Ort;
  } catch (e) {
    throw new Error(`${owner}: backend 'onnx': onnxruntime-node could not be loaded (${(e as Error).message}); npm install onnxruntime-node, or use backend 'cpu'`);
  }
}
