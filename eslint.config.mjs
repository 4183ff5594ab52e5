// Lint: typescript-eslint's type-aware recommended rules on TypeScript, plus no floating promises
// (an un-awaited step() or mapAsync() is the bug this codebase is most exposed to).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Files matching `files` may not import from the src/ layers named in `above` (by relative path). */
function layer(files, above) {
  const names = above.map((name) => (name === 'types' ? 'types\\.js' : `${name}/`));
  return [{
    files: [files],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: `^(\\.\\.?/)+(${names.join('|')})`, message: `${files} sits below ${above.join(', ')}: imports go down the layers only (docs/code-layout.mdx).` }],
      }],
    },
  }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'kernels/wasm/**', '.docusaurus/**', 'src/**/*.generated.ts', 'shot.tmp.mjs'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts', '**/*.tsx'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    // The library, tests and scripts are one project; the docs site (React, bundler resolution) is another.
    languageOptions: { parserOptions: { project: ['./tsconfig.json', './site/tsconfig.json'], tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises that the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
    },
  },
  // One-way layers of src/ (test/layers.test.ts also checks the whole import graph for cycles):
  // util < rules < core, types < backends < checkpoint < optim < the entry points (index, tfjs, …).
  ...layer('src/{util/**,version.ts}', ['rules', 'core', 'types', 'backends', 'checkpoint', 'optim', 'tfjs']),
  ...layer('src/rules/**', ['core', 'types', 'backends', 'checkpoint', 'optim', 'tfjs']),
  ...layer('src/{core/**,types.ts}', ['backends', 'checkpoint', 'optim', 'tfjs']),
  ...layer('src/backends/**', ['checkpoint', 'optim', 'tfjs']),
  ...layer('src/checkpoint/**', ['backends', 'optim', 'tfjs']),
  ...layer('src/optim/**', ['tfjs']),
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
);
