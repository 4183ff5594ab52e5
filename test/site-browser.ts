/**
 * The built docs site in Debian's chromium, shared by the browser tests (`site.test.ts`,
 * `figures.test.ts`): `docusaurus serve` on a free port over build/site, and the browser's flags.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './helpers.js';

export const SITE = join(REPO_ROOT, 'build', 'site');
export const SHOTS = join(REPO_ROOT, 'build', 'screenshots');
export const CHROMIUM = '/usr/bin/chromium';
export const FLAGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** WebGPU on SwiftShader, the CPU Vulkan driver chromium ships. */
export const WEBGPU_FLAGS = [...FLAGS, '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'];

/** Why the browser tests cannot run here, or '' when they can. */
export const siteMissing = !existsSync(join(SITE, 'index.html')) ? 'build/site is missing: run npm run build (or npm run site:build)' : !existsSync(CHROMIUM) ? `${CHROMIUM} is missing: apt-get install chromium` : '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForServer(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`docusaurus serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 30 s`);
}

/** Serve build/site on a free port; `base` is its URL, `stop()` ends the server. */
export async function serveSite(): Promise<{ base: string; stop: () => void }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, [join(REPO_ROOT, 'node_modules', '@docusaurus', 'core', 'bin', 'docusaurus.mjs'), 'serve', '--dir', SITE, '--port', String(port), '--host', '127.0.0.1', '--no-open'], { cwd: REPO_ROOT, stdio: 'ignore' });
  try {
    await waitForServer(`${base}/`, server);
  } catch (e) {
    server.kill();
    throw e;
  }
  return { base, stop: () => server.kill() };
}

/**
 * The built site served and chromium launched for the enclosing suite (node:test `before`/`after`):
 * `base` and `browser` are set once `before` has run. `check` runs first (e.g. to fail when the site is missing).
 */
export function siteInChromium(check: () => void = () => undefined): { base: string; browser: Browser } {
  const session = { base: '', browser: undefined as unknown as Browser };
  let stopServer: (() => void) | undefined;
  before(async () => {
    check();
    mkdirSync(SHOTS, { recursive: true });
    const site = await serveSite();
    session.base = site.base;
    stopServer = site.stop;
    session.browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });
  after(async () => {
    await (session.browser as Browser | undefined)?.close();
    stopServer?.();
  });
  return session;
}
