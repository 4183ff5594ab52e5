/**
 * `npm run check:torch-resume`: checkpoints of fp32 AdamW, AdamW with amsgrad and Adam (two param
 * groups with their own lr and weight decay) are resumed in PyTorch with the loader that
 * docs/checkpoints.mdx shows (resume.py runs that very code), and PyTorch's next steps are compared
 * with adamw-lab's own. Needs /usr/bin/python3 with torch (Debian: python3-torch).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam, AdamW, type AdamOptimizer, type Param } from '../../src/index.js';
import { seededNormal } from '../../test/helpers.js';

const SHAPES = [[50, 100], [77]];
const STEPS_BEFORE = 3;
const STEPS_AFTER = 3;
/** Largest |θ_torch − θ_adamw-lab| accepted, as a fraction of how far the params moved after resuming. */
const TOLERANCE = 1e-4;

type Make = (params: Param[]) => AdamOptimizer;
const CASES: Array<{ name: string; torch: string; make: Make }> = [
  { name: 'AdamW', torch: 'AdamW', make: (p) => new AdamW([{ params: [p[0]!], lr: 3e-3 }, { params: [p[1]!], weightDecay: 0.05 }], { lr: 1e-3, betas: [0.9, 0.99], eps: 1e-7 }) },
  { name: 'AdamW, amsgrad', torch: 'AdamW', make: (p) => new AdamW([{ params: [p[0]!], lr: 3e-3 }, { params: [p[1]!], weightDecay: 0.05 }], { lr: 1e-3, amsgrad: true }) },
  { name: 'Adam (L2 decay)', torch: 'Adam', make: (p) => new Adam([{ params: [p[0]!], lr: 3e-3 }, { params: [p[1]!], weightDecay: 0.05 }], { lr: 1e-3, weightDecay: 0.02 }) },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'adamw-lab-torch-resume-'));
  const normal = seededNormal(7);
  const lengths = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
  const cases = [];
  for (const [k, c] of CASES.entries()) {
    const params = lengths.map((n) => ({ data: Float32Array.from({ length: n }, normal), grad: new Float32Array(n) }));
    const grads = Array.from({ length: STEPS_BEFORE + STEPS_AFTER }, () => lengths.map((n) => Float32Array.from({ length: n }, normal)));
    const opt = c.make(params);
    for (const [step, g] of grads.entries()) {
      if (step === STEPS_BEFORE) {
        await opt.save(join(dir, `case${k}.safetensors`));
        cases.push({ name: c.name, torch: c.torch, file: `case${k}.safetensors`, shapes: SHAPES, mid: params.map((p) => Array.from(p.data)), grads: grads.slice(STEPS_BEFORE).map((s) => s.map((x) => Array.from(x))) });
      }
      params.forEach((p, i) => p.grad.set(g[i]!));
      await opt.step();
    }
    Object.assign(cases[k]!, { final: params.map((p) => Array.from(p.data)) });
    opt.destroy();
  }
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
  const out = JSON.parse(execFileSync('/usr/bin/python3', [join(__dirname, 'resume.py'), dir], { encoding: 'utf8' })) as {
    torch: string; reader: string; results: Array<{ name: string; difference: number; moved: number }>;
  };
  console.log(`PyTorch ${out.torch}; checkpoints read with ${out.reader}`);
  console.log(`${STEPS_BEFORE} steps in adamw-lab, save, load into torch.optim, ${STEPS_AFTER} more steps in each:`);
  let failed = false;
  for (const r of out.results) {
    const ok = r.difference <= TOLERANCE * r.moved;
    failed ||= !ok;
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${r.name}: max |θ_torch − θ_adamw-lab| = ${r.difference.toExponential(2)} (params moved ${r.moved.toExponential(2)})`);
  }
  if (failed) process.exit(1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
