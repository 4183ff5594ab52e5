/**
 * KaTeX's stylesheet must come from the katex that rehype-katex renders with: CSS from another
 * minor version (0.18's against 0.16's markup) misplaces every fraction and root. So the site takes
 * the stylesheet from the katex package that rehype-katex itself resolves, and checkKatex() fails
 * the build if the top-level katex (what a reader's `import 'katex'` gets) differs from it.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** The directory of a package as Node resolves it from `fromDir` (works for ESM-only packages too). */
function packageDir(name: string, fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`katex check: ${name} is not installed (looked upward from ${fromDir}); run npm ci`);
  }
}

function version(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The katex package rehype-katex renders with. */
export const renderingKatexDir = packageDir('katex', packageDir('rehype-katex', ROOT));

/** The stylesheet the site loads: from the rendering katex, never from a CDN. */
export const katexStylesheet = join(renderingKatexDir, 'dist', 'katex.min.css');

/** Throw unless the stylesheet's katex and the top-level katex are the version rehype-katex renders with. */
export function checkKatex(): { version: string } {
  const rendering = version(renderingKatexDir);
  const topLevel = version(packageDir('katex', ROOT));
  const cssVersion = /katex-version:after\{content:"([^"]+)"\}/.exec(readFileSync(katexStylesheet, 'utf8'))?.[1];
  if (cssVersion !== rendering) {
    throw new Error(`katex check: the stylesheet ${katexStylesheet} is KaTeX ${cssVersion ?? '(no version found)'}, but rehype-katex renders with ${rendering}`);
  }
  if (rendering !== topLevel) {
    throw new Error(`katex check: rehype-katex renders with katex ${rendering} but the top-level katex is ${topLevel}; pin "katex": "${rendering}" in package.json`);
  }
  return { version: rendering };
}
