// A complete training loop with adamw-lab: a 2-16-1 MLP learns y = sin(3x₁)·cos(2x₂) on generated data,
// with AdamW, linear warmup + cosine decay, and global-norm gradient clipping at 1.0 (sd-scripts' default).
// Run: npm run build && node examples/train-mlp.mjs
import { AdamW, LRScheduler, clipGradNorm, cosineWithWarmupSchedule, createParam } from 'adamw-lab';

// Seeded random numbers, so every run prints the same losses.
let seed = 42;
const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

const IN = 2, HIDDEN = 16, N = 256, STEPS = 400;
const xs = Array.from({ length: N }, () => [random() * 2 - 1, random() * 2 - 1]);
const ys = xs.map(([a, b]) => Math.sin(3 * a) * Math.cos(2 * b));

// createParam puts data and grad in adamw-lab's shared memory: the CPU kernel updates them in place.
const w1 = createParam(Array.from({ length: HIDDEN * IN }, () => normal() / Math.sqrt(IN)), 'w1');
const b1 = createParam(HIDDEN, 'b1');
const w2 = createParam(Array.from({ length: HIDDEN }, () => normal() / Math.sqrt(HIDDEN)), 'w2');
const b2 = createParam(1, 'b2');

// Biases get no weight decay: a second param group, as in most LLM and diffusion trainers.
const optimizer = new AdamW([{ params: [w1, w2] }, { params: [b1, b2], weightDecay: 0 }], { lr: 3e-2, weightDecay: 0.01 });
const scheduler = new LRScheduler(optimizer, cosineWithWarmupSchedule(20, STEPS));

const hidden = new Float64Array(HIDDEN);
for (let step = 1; step <= STEPS; step++) {
  optimizer.zeroGrad();
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const [a, b] = xs[n];
    // forward: h = tanh(W1 x + b1), ŷ = w2·h + b2
    let out = b2.data[0];
    for (let j = 0; j < HIDDEN; j++) {
      hidden[j] = Math.tanh(w1.data[2 * j] * a + w1.data[2 * j + 1] * b + b1.data[j]);
      out += w2.data[j] * hidden[j];
    }
    const err = out - ys[n];
    loss += (err * err) / N;
    // backward of the mean squared error
    const dOut = (2 * err) / N;
    b2.grad[0] += dOut;
    for (let j = 0; j < HIDDEN; j++) {
      w2.grad[j] += dOut * hidden[j];
      const dPre = dOut * w2.data[j] * (1 - hidden[j] * hidden[j]);
      b1.grad[j] += dPre;
      w1.grad[2 * j] += dPre * a;
      w1.grad[2 * j + 1] += dPre * b;
    }
  }
  const gradNorm = clipGradNorm([w1, b1, w2, b2], 1.0);
  await optimizer.step();
  scheduler.step();
  if (step === 1 || step % 50 === 0) {
    console.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(5)}  grad norm ${gradNorm.toFixed(4)}  lr ${scheduler.lastLr[0].toExponential(2)}`);
  }
}
console.log(`optimizer state: ${optimizer.stateBytes()} bytes for ${HIDDEN * IN + HIDDEN + HIDDEN + 1} params (8 per param); ran on ${optimizer.backendDescription}`);
