/**
 * The variant table's data, generated from the library: each PRESET_CATALOG entry is constructed over
 * a large and a small tensor and stepped once, and its defaults, options, state buffers and exact
 * stateBytes() are read back from the optimizer, and its checkpoint's tensors from the bytes that
 * saveBytes() writes. The resident-memory measurement comes from the last
 * published `npm run bench:variants` (site/data/bench/variants.json).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { BLOCK_SIZE, MIN_8BIT_SIZE, PRESET_CATALOG, toBf16, type AdamOptimizer, type Param, type PresetEquivalent } from '../../src/index.js';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { seededNormal } from '../../test/helpers.js';

/** One row of the variant table. */
export interface VariantRow {
  label: string;
  className: string;
  paramDtype: 'fp32' | 'bf16';
  defaults: { lr: number; betas: [number, number]; eps: number; weightDecay: number };
  options: { stateDtype: string; paged: boolean; kahan: boolean; stable: boolean };
  /** Exact state bytes per param for a tensor of LARGE elements, and for one of SMALL. */
  bytesPerParam: { large: number; small: number };
  buffers: { name: string; dtype: string; perParam: number }[];
  /** Resident-memory growth per param over the first step, from the published benchmark. */
  measured: { bytesPerParam: number; params: number; date: string; command: string } | null;
  equivalents: readonly PresetEquivalent[];
  /** The checkpoint's tensors for the first param, and its metadata keys, read back from saveBytes(). */
  checkpoint: { tensors: CheckpointTensor[]; metadataKeys: string[] };
}

/** A checkpoint tensor of param 0, its shape in terms of the param's length n (`[n]`, `[n/256]`, `[]`). */
export interface CheckpointTensor { name: string; dtype: string; shape: string }

const LARGE = 1 << 20;
const SMALL = 1000;

const DTYPE_OF = new Map<unknown, string>([[Float32Array, 'fp32'], [Uint16Array, 'bf16'], [Uint8Array, 'u8']]);

/** The state buffers an optimizer keeps for its first param, as its state dict names them. */
export async function stateBuffers(opt: AdamOptimizer): Promise<{ name: string; dtype: string; length: number }[]> {
  const state = (await opt.stateDictAsync()).state[0] ?? {};
  return Object.entries(state)
    .filter(([, v]) => ArrayBuffer.isView(v))
    .map(([name, v]) => ({ name, dtype: DTYPE_OF.get((v as object).constructor) ?? 'unknown', length: (v as Float32Array).length }));
}

function param(n: number, dtype: 'fp32' | 'bf16', seed: number): Param {
  const normal = seededNormal(seed);
  const values = Float32Array.from({ length: n }, normal);
  const grad = Float32Array.from({ length: n }, () => 0.01 * normal());
  if (dtype === 'fp32') return { data: values, grad };
  return { data: toBf16(values), dtype: 'bf16', grad };
}

/** The tensors that a checkpoint of `opt` (made over one param of `n` elements) holds, from its bytes. */
async function checkpointLayout(opt: AdamOptimizer, n: number): Promise<VariantRow['checkpoint']> {
  const { tensors, metadata } = decodeSafetensors(await opt.saveBytes());
  const dimension = (d: number): string => (d === n ? 'n' : d === Math.ceil(n / BLOCK_SIZE) ? `n/${BLOCK_SIZE}` : String(d));
  return {
    tensors: tensors.map(([name, t]) => ({ name, dtype: t.dtype, shape: `[${t.shape.map(dimension).join(', ')}]` })),
    metadataKeys: Object.keys(metadata),
  };
}

async function stepped(make: () => AdamOptimizer): Promise<AdamOptimizer> {
  const opt = make();
  await opt.step();
  return opt;
}

interface PublishedMemory {
  date: string;
  command: string;
  memory: { preset: string; n: number; rssGrowth: number }[];
}

/** What the variant pages read: the rows, and the constants that explain them. */
export interface VariantData {
  largeTensor: number;
  smallTensor: number;
  min8bitElements: number;
  blockSize: number;
  rows: VariantRow[];
}

/** Build every row; `benchFile` is the published bench:variants result (may be absent). */
export async function variantData(benchFile: string): Promise<VariantData> {
  const published = existsSync(benchFile) ? (JSON.parse(readFileSync(benchFile, 'utf8')) as PublishedMemory) : undefined;
  const rows: VariantRow[] = [];
  for (const [i, entry] of PRESET_CATALOG.entries()) {
    // Paged state spills to a file; keep the budget small so the generator stays light.
    const options = entry.className.startsWith('Paged') ? { paged: { budgetBytes: 1 << 22 } } : {};
    const large = await stepped(() => entry.create([param(LARGE, entry.paramDtype, i)], options));
    const small = await stepped(() => entry.create([param(SMALL, entry.paramDtype, i + 100)], options));
    const buffers = (await stateBuffers(large)).map(({ name, dtype, length }) => ({ name, dtype, perParam: length / LARGE }));
    const measured = published?.memory.find((m) => m.preset === entry.label);
    const { lr, betas, eps, weightDecay } = large.defaults;
    const v = large.variantOptions;
    rows.push({
      label: entry.label,
      className: entry.className,
      paramDtype: entry.paramDtype,
      defaults: { lr, betas: [betas[0], betas[1]], eps, weightDecay },
      options: { stateDtype: v.stateDtype ?? 'fp32', paged: Boolean(v.paged), kahan: buffers.some((b) => b.name === 'kahan_comp' || b.name === 'shift'), stable: v.stable ?? false },
      bytesPerParam: { large: large.stateBytes() / LARGE, small: small.stateBytes() / SMALL },
      buffers,
      measured: measured && published ? { bytesPerParam: measured.rssGrowth / measured.n, params: measured.n, date: published.date, command: published.command } : null,
      equivalents: entry.equivalents,
      checkpoint: await checkpointLayout(large, LARGE),
    });
    large.destroy();
    small.destroy();
  }
  return { largeTensor: LARGE, smallTensor: SMALL, min8bitElements: MIN_8BIT_SIZE, blockSize: BLOCK_SIZE, rows };
}
