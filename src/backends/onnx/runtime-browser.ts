/**
 * Browser replacement for runtime.ts (package.json "browser" field): onnxruntime-node is a Node
 * addon, so backend 'onnx' is refused in browsers.
 * @module
 */
export type Ort = typeof import('onnxruntime-node');

/** Always throws: browsers have no onnxruntime-node. */
export function loadOrt(owner: string): Ort {
  throw new Error(`${owner}: backend 'onnx' runs in Node only (onnxruntime-node); in a browser use backend 'webgpu' or 'cpu'`);
}
