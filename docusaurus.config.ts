// The adamw-lab documentation site: English in docs/, Korean in i18n/ko/ (Docusaurus's i18n layout).
// Site code lives in site/ because src/ is the library. scripts/site/prepare.ts generates what the
// pages read (notebook pages, variant data, the TypeDoc API) before every build.
import type { Config } from '@docusaurus/types';
import type * as Preset from '@docusaurus/preset-classic';
import { themes as prismThemes } from 'prism-react-renderer';
import remarkMath from 'remark-math';
import rehypeKatex from 'rehype-katex';
import remarkCjkFriendly from 'remark-cjk-friendly';
import { join, sep } from 'node:path';
import type { Configuration as WebpackConfig } from 'webpack';
import { katexStylesheet } from './scripts/site/katex';

const config: Config = {
  title: 'adamw-lab',
  tagline: 'AdamW and its memory-saving variants, derived and computed exactly',
  favicon: 'img/favicon.svg',
  url: 'https://adamw-lab.dev',
  baseUrl: '/',
  onBrokenLinks: 'throw',
  onBrokenAnchors: 'throw',
  markdown: { hooks: { onBrokenMarkdownLinks: 'throw', onBrokenMarkdownImages: 'throw' } },
  i18n: {
    defaultLocale: 'en',
    locales: ['en', 'ko'],
    localeConfigs: {
      en: { label: 'English', htmlLang: 'en' },
      ko: { label: '한국어', htmlLang: 'ko' },
    },
  },
  staticDirectories: ['site/static', 'build/site-static'],
  // Docusaurus Faster (Rspack, SWC, Lightning CSS) keeps `npm run build` within its time on two cores.
  // `faster: true` also allows SSG in worker threads, which needs the v4 flag that drops the legacy
  // postBuild head attribute (no plugin here reads it).
  future: { faster: true, v4: { removeLegacyPostBuildHeadAttribute: true } },
  plugins: [
    // The playground imports adamw-lab and Vega, which only the browser runs. The browser bundle gets
    // adamw-lab's browser modules through its package.json "browser" field and exports condition; the
    // static render leaves both to Node (it never calls them), so Node-only optional addons
    // (onnxruntime-node, Dawn, node-canvas) never reach webpack.
    () => ({
      name: 'playground-modules',
      configureWebpack: (config: WebpackConfig, isServer: boolean) => {
        // The site imports 'adamw-lab' from inside this package, so webpack resolves it to ./dist
        // (package self-reference), which Docusaurus would run through Babel as site code; Babel's
        // helpers turn the CommonJS build into a broken hybrid. Leave dist/ alone, as an installed package is.
        // The same holds for SWC under Rspack: Docusaurus Faster keeps the rule's exclude function.
        const dist = join(__dirname, 'dist') + sep;
        for (const rule of config.module?.rules ?? []) {
          if (rule && typeof rule === 'object' && typeof rule.exclude === 'function') {
            const exclude = rule.exclude;
            rule.exclude = (path: string) => path.startsWith(dist) || exclude(path);
          }
        }
        return isServer ? { externals: { 'adamw-lab': 'commonjs adamw-lab', vega: 'commonjs vega', 'vega-lite': 'commonjs vega-lite' } } : {};
      },
    }),
  ],
  presets: [
    [
      'classic',
      {
        docs: {
          path: 'docs',
          routeBasePath: '/',
          sidebarPath: './sidebars.ts',
          remarkPlugins: [remarkMath, remarkCjkFriendly],
          rehypePlugins: [rehypeKatex],
          showLastUpdateTime: false,
        },
        blog: false,
        pages: { path: 'site/pages', remarkPlugins: [remarkMath, remarkCjkFriendly], rehypePlugins: [rehypeKatex] },
        theme: { customCss: ['./site/css/custom.css', katexStylesheet] },
      } satisfies Preset.Options,
    ],
  ],
  themeConfig: {
    colorMode: { respectPrefersColorScheme: true },
    navbar: {
      title: 'adamw-lab',
      logo: { alt: 'adamw-lab', src: 'img/favicon.svg' },
      items: [
        { type: 'docSidebar', sidebarId: 'docs', position: 'left', label: 'Docs' },
        { to: '/notebooks/lineage', label: 'Notebooks', position: 'left' },
        { to: '/playground', label: 'Playground', position: 'left' },
        { href: 'pathname:///api/', label: 'API', position: 'left' },
        { type: 'localeDropdown', position: 'right' },
      ],
    },
    footer: {
      style: 'dark',
      links: [
        {
          title: 'Learn',
          items: [
            { label: 'Notebooks', to: '/notebooks/lineage' },
            { label: 'Variants', to: '/variants' },
          ],
        },
        {
          title: 'Use',
          items: [
            { label: 'Trainer configs', to: '/configs' },
            { label: 'Backends', to: '/backends' },
            { label: 'API reference', href: 'pathname:///api/' },
          ],
        },
      ],
      copyright: 'adamw-lab, MIT licence. Figures on this site come from commands in the repository; each page says which.',
    },
    prism: { theme: prismThemes.github, darkTheme: prismThemes.dracula, additionalLanguages: ['toml', 'bash', 'python'] },
  } satisfies Preset.ThemeConfig,
};

export default config;
