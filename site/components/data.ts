// Typed access to the data the site is generated from: the variant table (scripts/site/variant-data.ts,
// from the library) and the published benchmark results (site/data/bench/, from bench/).
import variantJson from '@site/build/site-data/variants.json';
import cpuBenchJson from '@site/site/data/bench/cpu.json';
import variantBenchJson from '@site/site/data/bench/variants.json';
import gpuBenchJson from '@site/site/data/bench/gpu.json';
import type { VariantData } from '../../scripts/site/variant-data';

export const variantData = variantJson as unknown as VariantData;

/** Repeated timings (seconds) or ratios: the benchmarks publish min, median and max, never a mean. */
export interface TimeStats {
  min: number;
  median: number;
  max: number;
}

/** site/data/bench/cpu.json, as bench/cpu.ts writes it. */
export interface CpuBench {
  date: string;
  cpu: string;
  threads: number;
  node: string;
  bytesPerParam: number;
  bandwidth: { copy: number; inPlace1: number; inPlaceAll: number };
  results: {
    path: string; n: number; threads: number; minSeconds: number; medianSeconds: number; maxSeconds: number;
    nsPerParam: number; gbPerSecond: number; ratioToRoofline: number; ratioToCopy: number; vsTorch: number | null;
  }[];
  /** Plain Float32Array params against the copy-bandwidth limit and against createParam, from alternating rounds. */
  plainArrays: { n: number; threads: number; rounds: number; ofCopyLimit: TimeStats; overCreateParam: TimeStats; copyLimitSeconds: number };
  /** The C++ peer (bench/native/adamw.cpp), or why it was skipped. */
  native:
    | { compiler: string; flags: string[]; check: { n: number; steps: number; maxUlps: number }; results: (TimeStats & { n: number; threads: number; oursOverNative: TimeStats })[] }
    | { skipped: string };
  torch: { torch: string; threads: number; results: { n: number; min_s?: number; median_s: number; max_s?: number }[] } | null;
  measuredStateBytesPerParam: number;
  command: string;
}

/** site/data/bench/variants.json, as bench/variants.ts writes it. */
export interface VariantBench {
  date: string;
  cpu: string;
  node: string;
  params: number;
  rooflineBytesPerSecond: number;
  steps: { preset: string; threads: number; seconds: TimeStats; bytesPerParam: number }[];
  /** By thread count: the 8-bit step over the fp32 step, over alternating rounds. */
  eightBitOverFp32: Record<string, TimeStats>;
  memory: { preset: string; n: number; rssGrowth: number; stateBytes: number; paging: { budgetBytes: number; peakResidentBytes: number } | null }[];
  command: string;
}

/** site/data/bench/gpu.json, as bench/gpu.ts writes it. */
export interface GpuBench {
  date: string;
  adapter: string;
  /** The WebGPU adapter was SwiftShader, a CPU Vulkan driver: no GPU took part. */
  swiftshader: boolean;
  cpu: string;
  node: string;
  copyBytesPerSecond: number;
  webgpu: {
    preset: string; n: number; bytesPerParam: number; kernelMinS: number; kernelMedianS: number; kernelMaxS: number; kernelGBps: number; ratioToCopy: number;
    hostStepMinS: number; hostStepMedianS: number; hostStepMaxS: number;
  }[];
  /** [params, AdamW8bit's kernel median / AdamW (fp32)'s] for each size that has both. */
  eightBitOverFp32: [number, number][];
  onnx: { provider: string; preset: string; n: number; minS: number; medianS: number; maxS: number; bytesAcrossPerParam: number }[];
  torch: { torch: string; device: string; copy_bytes_per_s: number; results: { n: number; min_s: number; median_s: number; max_s: number }[] } | { unavailable: string };
  command: string;
}

export const cpuBench = cpuBenchJson as unknown as CpuBench;
export const gpuBench = gpuBenchJson as unknown as GpuBench;
export const variantBench = variantBenchJson as unknown as VariantBench;
