/**
 * What the site's interactive figures (and the playground) compute, without React: a seeded random
 * source, the choice of backend, and one function per figure that runs adamw-lab itself. The figures
 * call these in the reader's browser; `test/figures.test.ts` calls them in Node with backend `'cpu'`
 * (the same WebAssembly kernel, so the same bits) to know what each figure must show.
 * @module
 */
import { Adam, AdamW, dynamicMap, quantizeSigned, type AdamOptimizer, type OptimizerOptions, type Param } from 'adamw-lab';

/** mulberry32: a seeded generator, so a setting always draws the same numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal numbers from a uniform source (Box–Muller; 1 − u keeps the logarithm finite). */
export function normalFrom(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** The backends a figure asks for: WebGPU's WGSL kernels, or the CPU's WebAssembly SIMD kernel. */
export type StepBackend = 'webgpu' | 'cpu';

/** Why a figure ran where it ran, for its status line. */
export type BackendReason = 'webgpu' | 'no-webgpu' | 'gpu-failed' | 'codec';

/** A figure's computation, run: its value and where it ran, or the library's error. */
export type Outcome<T> =
  | { ok: true; value: T; backend: string; reason: BackendReason; gpuError?: string }
  | { ok: false; error: string };

let adapterCheck: Promise<boolean> | undefined;

/** Whether this browser offers a WebGPU adapter (asked once per page): `navigator.gpu` can exist without one. */
export function hasWebGpuAdapter(): Promise<boolean> {
  adapterCheck ??= typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu !== undefined
    ? navigator.gpu.requestAdapter().then((adapter) => adapter !== null, () => false)
    : Promise.resolve(false);
  return adapterCheck;
}

/**
 * Run `compute` on WebGPU when the browser has an adapter, else on the CPU. If WebGPU fails
 * (no adapter, or no kernel for the options), run on the CPU and keep WebGPU's message for the status
 * line; if the CPU run fails too, that error is about the options, and the outcome says so.
 */
export async function runPreferringWebGpu<T>(compute: (backend: StepBackend) => Promise<{ value: T; backend: string }>): Promise<Outcome<T>> {
  try {
    if (await hasWebGpuAdapter()) {
      try {
        return { ok: true, ...(await compute('webgpu')), reason: 'webgpu' };
      } catch (e) {
        return { ok: true, ...(await compute('cpu')), reason: 'gpu-failed', gpuError: (e as Error).message };
      }
    }
    return { ok: true, ...(await compute('cpu')), reason: 'no-webgpu' };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Step `opt` `steps` times; before step t (1-based) `fill(t)` writes the gradients. Destroys `opt` afterwards. */
async function runSteps(opt: AdamOptimizer, steps: number, fill: (t: number) => void, after?: (t: number) => Promise<void> | void): Promise<string> {
  try {
    for (let t = 1; t <= steps; t++) {
      fill(t);
      await opt.step();
      await after?.(t);
    }
    return opt.backendDescription;
  } finally {
    opt.destroy();
  }
}

const param = (values: ArrayLike<number>): Param & { data: Float32Array; grad: Float32Array } => ({ data: Float32Array.from(values), grad: new Float32Array(values.length) });

// ---------------------------------------------------------------------------------------------
// 1. The EMA weight kernel (notebook 01)

/** Lags shown: enough for the noise-equivalent window (1+β)/(1−β) at the largest β. */
export const EMA_LAGS = 200;

export interface EmaKernel {
  /** weights[k] = the weight of the gradient k steps back in m, as the library's exp_avg holds it. */
  weights: number[];
  /** The "window" 1/(1−β). */
  window: number;
  /** The noise-equivalent window (1+β)/(1−β): an average of that many gradients has the EMA's variance. */
  noiseWindow: number;
  /** The newest round(1/(1−β)) lags, over which {@link massInWindow} sums. */
  windowLags: number;
  /** Σ of the library's weights over the newest `windowLags` lags: 1 − β^windowLags, about 1 − 1/e. */
  massInWindow: number;
}

/**
 * The EMA kernel read from the library in one run: coordinate j of an EMA_LAGS-element param gets a
 * unit gradient at step j + 1 and zeros otherwise, so after EMA_LAGS steps
 * $m[j] = (1-\beta)\,\beta^{\,\text{EMA\_LAGS}-1-j}$, the weight of a gradient that many steps back.
 */
export async function emaKernel(beta: number, backend: StepBackend): Promise<{ value: EmaKernel; backend: string }> {
  const p = param(new Float32Array(EMA_LAGS));
  const opt = new AdamW([p], { lr: 1e-3, betas: [beta, 0.999], weightDecay: 0, backend });
  let expAvg: Float32Array | undefined;
  const ran = await runSteps(opt, EMA_LAGS, (t) => {
    p.grad.fill(0);
    p.grad[t - 1] = 1;
  }, async (t) => {
    if (t === EMA_LAGS) expAvg = (await opt.stateDictAsync()).state[0]!.exp_avg as Float32Array;
  });
  const weights = Array.from({ length: EMA_LAGS }, (_, k) => expAvg![EMA_LAGS - 1 - k]!);
  const window = 1 / (1 - beta);
  // Rounded, not floored: 1/(1 − 0.9) is 10.000000000000002 in float64, and the window is 10 lags.
  const windowLags = Math.round(window);
  const massInWindow = weights.slice(0, windowLags).reduce((a, b) => a + b, 0);
  return { value: { weights, window, noiseWindow: (1 + beta) / (1 - beta), windowLags, massInWindow }, backend: ran };
}

// ---------------------------------------------------------------------------------------------
// 2. Bias correction (notebook 03)

/** Steps of the bias-correction run, the true mean of its gradient and the noise around it. */
export const BIAS = { steps: 100, mean: 1, sigma: 1, seed: 3, readAt: 10 } as const;

/** The gradients of the bias-correction run: g_t = μ + σ·ξ_t, seeded. */
export function biasGradients(): number[] {
  const noise = normalFrom(seeded(BIAS.seed));
  return Array.from({ length: BIAS.steps }, () => Math.fround(BIAS.mean + BIAS.sigma * noise()));
}

export interface BiasRow { t: number; m: number; mHat: number; v: number; vHat: number }

/** m_t and v_t from the library's state after each step, and their bias-corrected m_t/(1−β1^t), v_t/(1−β2^t). */
export async function biasCorrection(beta1: number, beta2: number, backend: StepBackend): Promise<{ value: BiasRow[]; backend: string }> {
  const g = biasGradients();
  const p = param([0]);
  const opt = new AdamW([p], { lr: 1e-3, betas: [beta1, beta2], weightDecay: 0, backend });
  const rows: BiasRow[] = [];
  const ran = await runSteps(opt, BIAS.steps, (t) => {
    p.grad[0] = g[t - 1]!;
  }, async (t) => {
    const s = (await opt.stateDictAsync()).state[0]!;
    const m = s.exp_avg![0]!, v = s.exp_avg_sq![0]!;
    rows.push({ t, m, mHat: m / (1 - beta1 ** t), v, vHat: v / (1 - beta2 ** t) });
  });
  return { value: rows, backend: ran };
}

// ---------------------------------------------------------------------------------------------
// 3. Adam + L2 against AdamW (notebook 04)

/**
 * Two coordinates whose gradients are the same seeded noise at scales 10 and 0.01 (so Adam, being
 * scale-free, moves them identically without decay), both starting at 1.
 */
export const DECAY = { steps: 300, lr: 0.01, scales: [10, 0.01], seed: 5 } as const;

export interface DecayRow { t: number; optimizer: 'AdamW' | 'Adam + L2'; coordinate: 0 | 1; theta: number }

/** θ of both coordinates under AdamW (decoupled λ) and Adam (λ as L2, added to the gradient), step by step. */
export async function l2VsDecoupled(lambda: number, backend: StepBackend): Promise<{ value: DecayRow[]; backend: string }> {
  const rows: DecayRow[] = [];
  let ran = '';
  for (const optimizer of ['AdamW', 'Adam + L2'] as const) {
    const noise = normalFrom(seeded(DECAY.seed));
    const p = param([1, 1]);
    const options: OptimizerOptions = { lr: DECAY.lr, weightDecay: lambda, backend };
    const opt = optimizer === 'AdamW' ? new AdamW([p], options) : new Adam([p], options);
    for (const coordinate of [0, 1] as const) rows.push({ t: 0, optimizer, coordinate, theta: 1 });
    ran = await runSteps(opt, DECAY.steps, () => {
      const xi = noise();
      for (let i = 0; i < 2; i++) p.grad[i] = DECAY.scales[i]! * xi;
    }, (t) => {
      for (const coordinate of [0, 1] as const) rows.push({ t, optimizer, coordinate, theta: p.data[coordinate]! });
    });
  }
  return { value: rows, backend: ran };
}

// ---------------------------------------------------------------------------------------------
// 4. 8-bit blockwise error against block size (notebook 07)

/** Block sizes compared (bitsandbytes uses 256), the tensor's length, and its outliers. */
export const BLOCKWISE = { sizes: [32, 64, 128, 256, 512, 1024, 2048, 4096], length: 8192, outliers: 4, seed: 11 } as const;

export interface BlockwiseRow {
  blockSize: number;
  /** RMS quantization error of the ordinary (non-outlier) values, relative to their RMS. */
  relativeError: number;
  /** Storage per value: one code byte and a float32 absmax shared by the block. */
  bytesPerValue: number;
}

/** A seeded normal tensor with BLOCKWISE.outliers values multiplied by `outlier`; which indices those are. */
export function blockwiseTensor(outlier: number): { x: Float32Array; isOutlier: Uint8Array } {
  const u = seeded(BLOCKWISE.seed);
  const n = normalFrom(u);
  const x = Float32Array.from({ length: BLOCKWISE.length }, () => n());
  const isOutlier = new Uint8Array(BLOCKWISE.length);
  for (let k = 0; k < BLOCKWISE.outliers; k++) {
    const i = Math.floor(u() * BLOCKWISE.length);
    isOutlier[i] = 1;
    x[i] = Math.fround(x[i]! * outlier);
  }
  return { x, isOutlier };
}

/**
 * Quantize the tensor blockwise with the library's signed dynamic map and codec (`quantizeSigned`,
 * each value times the float32 reciprocal of its block's absmax, as the kernels do), for every block
 * size, and measure the ordinary values' error. Pure JavaScript: no optimizer step runs.
 */
export function blockwiseError(outlier: number): BlockwiseRow[] {
  const map = dynamicMap(true);
  const { x, isOutlier } = blockwiseTensor(outlier);
  return BLOCKWISE.sizes.map((blockSize) => {
    let squaredError = 0, squared = 0;
    for (let start = 0; start < x.length; start += blockSize) {
      const block = x.subarray(start, start + blockSize);
      const absmax = block.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
      const inverse = Math.fround(1 / absmax);
      for (let i = 0; i < block.length; i++) {
        if (isOutlier[start + i]) continue;
        const restored = Math.fround(map[quantizeSigned(map, block[i]! * inverse)]! * absmax);
        squaredError += (block[i]! - restored) ** 2;
        squared += block[i]! ** 2;
      }
    }
    return { blockSize, relativeError: Math.sqrt(squaredError / squared), bytesPerValue: 1 + 4 / blockSize };
  });
}

// ---------------------------------------------------------------------------------------------
// 5. StableAdamW on a gradient spike (notebook 09)

/** A 16-element param, gradients of seeded noise at scale 0.01, and at `spikeAt` every gradient times the spike. */
export const SPIKE = { steps: 100, spikeAt: 50, lr: 0.01, length: 16, scale: 0.01, seed: 9 } as const;

export interface SpikeRun {
  /** θ[0] after each step (index 0: the start), per optimizer. */
  theta: Record<'AdamW' | 'StableAdamW', number[]>;
  /** |θ[0] after the spike step − θ[0] before it|. */
  jump: Record<'AdamW' | 'StableAdamW', number>;
}

/** AdamW and StableAdamW (`stable: true`, update clipping) on the same run with one spike. */
export async function stableSpike(spike: number, backend: StepBackend): Promise<{ value: SpikeRun; backend: string }> {
  const theta = { AdamW: [] as number[], StableAdamW: [] as number[] };
  let ran = '';
  for (const name of ['AdamW', 'StableAdamW'] as const) {
    const noise = normalFrom(seeded(SPIKE.seed));
    const p = param(new Float32Array(SPIKE.length).fill(1));
    const opt = new AdamW([p], { lr: SPIKE.lr, weightDecay: 0, backend, ...(name === 'StableAdamW' ? { stable: true } : {}) });
    theta[name].push(p.data[0]!);
    ran = await runSteps(opt, SPIKE.steps, (t) => {
      for (let i = 0; i < SPIKE.length; i++) p.grad[i] = SPIKE.scale * noise() * (t === SPIKE.spikeAt ? spike : 1);
    }, () => {
      theta[name].push(p.data[0]!);
    });
  }
  const jump = (name: 'AdamW' | 'StableAdamW'): number => Math.abs(theta[name][SPIKE.spikeAt]! - theta[name][SPIKE.spikeAt - 1]!);
  return { value: { theta, jump: { AdamW: jump('AdamW'), StableAdamW: jump('StableAdamW') } }, backend: ran };
}

// ---------------------------------------------------------------------------------------------
// 6. The lr × weight-decay grid (notebook 10)

/**
 * A tiny overfitting problem: least squares on 16 noisy samples of 12 features, scored by the
 * squared error on 64 held-out samples. Every (lr, λ) cell is its own param group of one optimizer,
 * so the whole grid is one run; `steps` are the step counts the figure offers.
 */
export const GRID = { lrs: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3], weightDecays: [0, 0.01, 0.03, 0.1, 0.3, 1], steps: [50, 100, 150, 200, 250, 300], features: 12, train: 16, test: 64, noise: 0.5, seed: 21 } as const;

export interface GridCell { lr: number; weightDecay: number; loss: number }

/** Features, targets and the start of the grid problem (seeded). */
export function gridProblem(): { xTrain: Float64Array; yTrain: Float64Array; xTest: Float64Array; yTest: Float64Array; start: Float32Array } {
  const n = normalFrom(seeded(GRID.seed));
  const d = GRID.features;
  const truth = Array.from({ length: d }, () => n());
  const data = (rows: number): { x: Float64Array; y: Float64Array } => {
    const x = Float64Array.from({ length: rows * d }, () => n());
    const y = Float64Array.from({ length: rows }, (_, r) => truth.reduce((s, w, j) => s + w * x[r * d + j]!, 0) + GRID.noise * n());
    return { x, y };
  };
  const train = data(GRID.train), test = data(GRID.test);
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, start: Float32Array.from({ length: d }, () => n()) };
}

/** Mean squared error ½·mean((Xθ − y)²) and, when `grad` is given, its gradient (1/n)·Xᵀ(Xθ − y). */
export function squaredError(x: Float64Array, y: Float64Array, theta: Float32Array, grad?: Float32Array): number {
  const d = theta.length, rows = y.length;
  grad?.fill(0);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let residual = -y[r]!;
    for (let j = 0; j < d; j++) residual += x[r * d + j]! * theta[j]!;
    loss += residual * residual;
    if (grad) for (let j = 0; j < d; j++) grad[j] = grad[j]! + (x[r * d + j]! * residual) / rows;
  }
  return loss / (2 * rows);
}

/** Held-out loss after `steps` full-batch steps, for every (lr, λ), with AdamW or with Adam + L2. */
export async function lrWdGrid(mode: 'adamw' | 'adam-l2', steps: number, backend: StepBackend): Promise<{ value: GridCell[]; backend: string }> {
  const problem = gridProblem();
  const cells = GRID.lrs.flatMap((lr) => GRID.weightDecays.map((weightDecay) => ({ lr, weightDecay, p: param(problem.start) })));
  const groups = cells.map((c) => ({ params: [c.p], lr: c.lr, weightDecay: c.weightDecay }));
  const opt = mode === 'adamw' ? new AdamW(groups, { backend }) : new Adam(groups, { backend });
  const ran = await runSteps(opt, steps, () => {
    for (const c of cells) squaredError(problem.xTrain, problem.yTrain, c.p.data, c.p.grad);
  });
  return { value: cells.map((c) => ({ lr: c.lr, weightDecay: c.weightDecay, loss: squaredError(problem.xTest, problem.yTest, c.p.data) })), backend: ran };
}

/** How the figures print a number: `digits` significant digits, no trailing zeros. */
export function formatNumber(x: number, digits = 4): string {
  return String(Number(x.toPrecision(digits)));
}
