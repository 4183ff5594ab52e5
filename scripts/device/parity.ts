/**
 * The WebGPU parity cases as one script, for the device kit (scripts/device/make-kit.ts bundles it;
 * scripts/device/run-kit.sh runs it): the parity table's webgpu and onnx columns against the float64
 * rules (test/parity-cases.ts), the PyTorch trajectories on webgpu, and every update family's windowed
 * webgpu step against the cpu kernel (as test/webgpu.test.ts runs them). One line per case, then
 * JSON to the path given (`node parity.cjs OUT.json [torch-adamw.json]`); exits 1 when a case fails.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { AdamW, PRESET_CATALOG } from '../../src/index.js';
import { webgpuDevice } from '../../src/backends/webgpu/device.js';
import { describeDevice } from '../../src/backends/webgpu/describe.js';
import { WebGpuStore } from '../../src/backends/webgpu/webgpu-store.js';
import { assertMatchesCpuKernel, KERNEL_FAMILY_CASES, runTorchCase, type TorchCase } from '../../test/helpers.js';
import { budgetOf, float64Reference, parityError, paritySeed, runPreset, type ParityColumn } from '../../test/parity-cases.js';
import { chooseVulkanDriver, SWIFTSHADER_ICD } from '../vulkan-driver.js';

interface CaseResult { group: string; name: string; outcome: 'pass' | 'fail' | 'skip'; detail: string; seconds: number }

const results: CaseResult[] = [];

/** Run one case; a throw is its failure, and the next case still runs. */
async function run(group: string, name: string, body: () => Promise<string>): Promise<void> {
  const t0 = process.hrtime.bigint();
  let outcome: CaseResult['outcome'] = 'pass', detail: string;
  try {
    detail = await body();
  } catch (e) {
    outcome = 'fail';
    detail = (e as Error).message.split('\n')[0]!;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  results.push({ group, name, outcome, detail, seconds });
  console.log(`${outcome.toUpperCase()} ${group}: ${name} (${seconds.toFixed(2)} s) ${detail}`);
}

/** Why ONNX Runtime's WebGPU execution provider does not run here, or undefined when it does. */
async function onnxWebGpuUnavailable(): Promise<string | undefined> {
  const probe = new AdamW([{ data: Float32Array.of(1), grad: Float32Array.of(1) }], { backend: 'onnx', executionProviders: ['webgpu'] });
  try {
    await probe.step();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  } finally {
    probe.destroy();
  }
}

async function main(): Promise<void> {
  const [outFile = 'parity.json', oracleFile = 'test/oracles/torch-adamw.json'] = process.argv.slice(2);
  chooseVulkanDriver();
  const adapter = describeDevice(await webgpuDevice('device:parity'));
  const swiftshader = process.env.VK_ICD_FILENAMES === SWIFTSHADER_ICD || /swiftshader/i.test(adapter);
  console.log(`WebGPU adapter: ${adapter}${swiftshader ? ' (SwiftShader, a CPU Vulkan driver)' : ''}`);

  const onnxWebGpu = await onnxWebGpuUnavailable();
  const columns: ParityColumn[] = ['webgpu', 'onnx-cpu', 'onnx-webgpu'];
  for (const entry of PRESET_CATALOG) {
    const reference = float64Reference(entry, paritySeed(entry));
    const budget = budgetOf(entry);
    for (const column of columns) {
      const name = `${entry.label} (${entry.paramDtype}) on ${column}, budget ${budget}`;
      if (column === 'onnx-webgpu' && onnxWebGpu !== undefined) {
        results.push({ group: 'parity', name, outcome: 'skip', detail: `ONNX Runtime's WebGPU execution provider does not run here: ${onnxWebGpu}`, seconds: 0 });
        continue;
      }
      await run('parity', name, async () => {
        const error = parityError(await runPreset(entry, column, paritySeed(entry)), reference);
        if (!(error <= budget)) throw new Error(`error ${error} exceeds the budget ${budget}`);
        return `error ${error.toExponential(2)}`;
      });
    }
  }

  const cases = (JSON.parse(readFileSync(oracleFile, 'utf8')) as { cases: TorchCase[] }).cases;
  for (const c of cases) {
    await run('torch trajectory', `${c.name} on webgpu`, async () => {
      (await runTorchCase(c, { backend: 'webgpu' })).opt.destroy();
      return 'every step within 1e-5 of PyTorch';
    });
  }

  for (const family of KERNEL_FAMILY_CASES) {
    await run('windowed kernel', `${family.name}: webgpu in windows of 1024 against the cpu kernel`, async () => {
      const store = new WebGpuStore('device:parity', { maxWindowElements: 1024 });
      try {
        await assertMatchesCpuKernel(family, (param, plan) => {
          const state = store.create(param, plan);
          return { step: (hp, step) => store.run([{ state, param, hp, step }]), state: () => store.readAsync(state) };
        });
      } finally {
        store.close();
      }
      return `within ${family.tolerance}`;
    });
  }

  const count = (outcome: CaseResult['outcome']): number => results.filter((r) => r.outcome === outcome).length;
  const summary = { pass: count('pass'), fail: count('fail'), skip: count('skip') };
  console.log(`\n${summary.pass} passed, ${summary.fail} failed, ${summary.skip} skipped`);
  writeFileSync(outFile, `${JSON.stringify({ date: new Date().toISOString(), adapter, swiftshader, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, summary, results }, null, 2)}\n`);
  process.exit(summary.fail ? 1 : 0);
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
