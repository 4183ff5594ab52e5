/**
 * `npm run device:kit`: build/device-kit.tar.xz, everything bench:gpu and the WebGPU parity cases need on
 * a lent GPU machine, which has no Node, no network and takes at most 64 MiB carried in (node_modules
 * is over 1 GB). scripts/device/run-kit.sh unpacks and runs it there. The kit mirrors the repo's layout,
 * so the bundles' `__dirname` paths (bench results, the torch script) resolve as they do in the repo:
 *
 *   bin/node                                  this Node, stripped
 *   bench/gpu.cjs, bench/torch_adamw_cuda.py  bench/gpu.ts bundled; torch's fused AdamW
 *   device/parity.cjs                         scripts/device/parity.ts bundled
 *   node_modules/webgpu                       package.json and the linux-x64 dawn.node only
 *   node_modules/onnxruntime-node, -common    the JavaScript, and the linux-x64 binding and libonnxruntime.so.1 only
 *   lib/libvulkan.so.1                        Debian's Vulkan loader (libvulkan1): the machine may have none
 *   fallback-lib/libstdc++.so.6               for a machine whose libstdc++ is older than dawn.node needs
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildSync } from 'esbuild';

const REPO_ROOT = join(__dirname, '..', '..');
export const KIT_ARCHIVE = join(REPO_ROOT, 'build', 'device-kit.tar.xz');
/** What the device tool carries in, all paths together. */
export const CARRY_LIMIT_BYTES = 64 * 2 ** 20;
/** The bundles: each entry and where it lands in the kit. */
export const KIT_BUNDLES = [
  { entry: 'bench/gpu.ts', out: 'bench/gpu.cjs' },
  { entry: 'scripts/device/parity.ts', out: 'device/parity.cjs' },
] as const;
/** Native addons stay outside the bundles and load from the kit's node_modules. */
const EXTERNAL = ['webgpu', 'onnxruntime-node'];

/** Bundle every entry into `dir` (CommonJS for Node 20), failing on any error. */
export function bundleInto(dir: string): void {
  for (const { entry, out } of KIT_BUNDLES) {
    buildSync({
      entryPoints: [join(REPO_ROOT, entry)], outfile: join(dir, out), bundle: true, platform: 'node', format: 'cjs',
      target: 'node20', external: EXTERNAL, logLevel: 'error',
    });
  }
}

function copy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/** libvulkan.so.1 from Debian's libvulkan1 package: downloaded with apt and unpacked here, nothing installed. */
function vulkanLoader(cache: string): string {
  mkdirSync(cache, { recursive: true });
  if (!readdirSync(cache).some((f) => f.endsWith('.deb'))) execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: cache, stdio: 'inherit' });
  const deb = readdirSync(cache).find((f) => f.startsWith('libvulkan1_') && f.endsWith('.deb'))!;
  const unpacked = join(cache, 'root');
  execFileSync('dpkg-deb', ['-x', join(cache, deb), unpacked]);
  return realpathSync(join(unpacked, 'usr', 'lib', 'x86_64-linux-gnu', 'libvulkan.so.1'));
}

const git = (...args: string[]): string => execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8' });

function main(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`device:kit: the GPU machine is linux-x64; this Node is ${process.platform}-${process.arch}`);
  const stage = join(REPO_ROOT, 'build', 'device-kit');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  // Node, stripped of its debug symbols (the copy still runs; checked below).
  mkdirSync(join(stage, 'bin'));
  execFileSync('strip', ['-o', join(stage, 'bin', 'node'), process.execPath]);
  chmodSync(join(stage, 'bin', 'node'), 0o755);
  execFileSync(join(stage, 'bin', 'node'), ['-e', '1']);

  bundleInto(stage);
  copy(join(REPO_ROOT, 'bench', 'torch_adamw_cuda.py'), join(stage, 'bench', 'torch_adamw_cuda.py'));

  const modules = join(REPO_ROOT, 'node_modules');
  copy(join(modules, 'webgpu', 'package.json'), join(stage, 'node_modules', 'webgpu', 'package.json'));
  copy(join(modules, 'webgpu', 'dist', 'linux-x64', 'dawn.node'), join(stage, 'node_modules', 'webgpu', 'dist', 'linux-x64', 'dawn.node'));
  const ort = join(modules, 'onnxruntime-node');
  copy(join(ort, 'package.json'), join(stage, 'node_modules', 'onnxruntime-node', 'package.json'));
  cpSync(join(ort, 'dist'), join(stage, 'node_modules', 'onnxruntime-node', 'dist'), { recursive: true, filter: (f) => !f.endsWith('.map') });
  const binding = join('bin', 'napi-v6', 'linux', 'x64');
  for (const f of ['onnxruntime_binding.node', 'libonnxruntime.so.1']) copy(join(ort, binding, f), join(stage, 'node_modules', 'onnxruntime-node', binding, f));
  const common = join(modules, 'onnxruntime-common');
  copy(join(common, 'package.json'), join(stage, 'node_modules', 'onnxruntime-common', 'package.json'));
  cpSync(join(common, 'dist', 'cjs'), join(stage, 'node_modules', 'onnxruntime-common', 'dist', 'cjs'), { recursive: true, filter: (f) => !f.endsWith('.map') });

  copy(vulkanLoader(join(REPO_ROOT, 'build', 'device-kit-cache')), join(stage, 'lib', 'libvulkan.so.1'));
  copy(realpathSync('/usr/lib/x86_64-linux-gnu/libstdc++.so.6'), join(stage, 'fallback-lib', 'libstdc++.so.6'));
  writeFileSync(join(stage, 'KIT.json'), `${JSON.stringify({ made: new Date().toISOString(), node: process.version, commit: git('rev-parse', 'HEAD').trim(), uncommittedChanges: git('status', '--porcelain').trim() !== '' }, null, 2)}\n`);

  rmSync(KIT_ARCHIVE, { force: true });
  execFileSync('bash', ['-c', `tar -C "$1" -cf - . | xz -6 -T0 > "$2"`, 'tar', stage, KIT_ARCHIVE], { stdio: 'inherit' });
  const bytes = statSync(KIT_ARCHIVE).size;
  console.log(`wrote ${KIT_ARCHIVE}: ${(bytes / 2 ** 20).toFixed(1)} MiB (carry limit ${CARRY_LIMIT_BYTES / 2 ** 20} MiB, the working tree included)`);
  if (bytes >= CARRY_LIMIT_BYTES) throw new Error(`device:kit: the kit is ${bytes} bytes, over the ${CARRY_LIMIT_BYTES}-byte carry limit`);
}

if (require.main === module) main();
