/** A description of the adapter behind a WebGPU device, for `backendDescription` (Node and browsers). */
export function describeDevice(d: GPUDevice): string {
  const info = (d as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info ? `${info.vendor || 'unknown vendor'} ${info.architecture || ''} ${info.description || ''}`.replace(/\s+/g, ' ').trim() : 'WebGPU device';
}
