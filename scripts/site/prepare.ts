/**
 * Everything the docs build reads that is generated rather than written (`npm run site:prepare`,
 * run by `npm run build` before Docusaurus):
 * - the KaTeX version check (scripts/site/katex.ts);
 * - one MDX page per executed notebook and locale (scripts/site/notebooks-to-mdx.ts);
 * - the variant table's data, from the library (scripts/site/variant-data.ts);
 * - the API reference, by TypeDoc, which fails on an undocumented export (typedoc.json).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkKatex } from './katex';
import { convertNotebooks } from './notebooks-to-mdx';
import { variantData } from './variant-data';

const ROOT = join(__dirname, '..', '..');
/** Generated, gitignored inputs of the site: static files and the data components import. */
const SITE_STATIC = join(ROOT, 'build', 'site-static');
const SITE_DATA = join(ROOT, 'build', 'site-data');

async function main(): Promise<void> {
  const started = Date.now();
  const { version } = checkKatex();
  console.log(`katex: stylesheet and renderer are both ${version}`);

  const notebooks = convertNotebooks({
    executedDir: join(ROOT, 'build', 'notebooks'),
    sourceDir: join(ROOT, 'notebooks'),
    docsDir: join(ROOT, 'docs'),
    koDocsDir: join(ROOT, 'i18n', 'ko', 'docusaurus-plugin-content-docs', 'current'),
    staticDir: SITE_STATIC,
  });
  console.log(`notebooks: ${notebooks.length} pages in en and ko`);

  mkdirSync(SITE_DATA, { recursive: true });
  const data = await variantData(join(ROOT, 'site', 'data', 'bench', 'variants.json'));
  writeFileSync(join(SITE_DATA, 'variants.json'), JSON.stringify(data, null, 2));
  console.log(`variants: ${data.rows.length} presets measured from the library`);

  execFileSync(join(ROOT, 'node_modules', '.bin', 'typedoc'), { cwd: ROOT, stdio: 'inherit' });
  console.log(`site inputs ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
