// ESLint: type-aware promise rules (a dropped promise in a FUSE callback hangs the kernel) and the layer map of
// docs/ARCHITECTURE.md enforced with no-restricted-imports per folder.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const prettier = require('eslint-config-prettier');
const globals = require('globals');

const layer = (folder, forbidden) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((f) => ({
          group: [`**/${f}`, `**/${f}/**`],
          message: `src/${folder} may not import src/${f} (see docs/ARCHITECTURE.md)`,
        })),
      },
    ],
  },
});

module.exports = tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      'bench/dist/**',
      'eslint.config.js',
      'jest.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: __dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  layer('shared', ['protocol', 'cache', 'sync', 'vfs', 'fuse', 'server', 'cli']),
  layer('protocol', ['cache', 'sync', 'vfs', 'fuse', 'server', 'cli']),
  layer('cache', ['protocol', 'sync', 'vfs', 'fuse', 'server', 'cli']),
  layer('sync', ['vfs', 'fuse', 'server', 'cli']),
  layer('vfs', ['fuse', 'server', 'cli']),
  layer('fuse', ['protocol', 'cache', 'sync', 'server', 'cli']),
  layer('server', ['protocol', 'cache', 'sync', 'vfs', 'fuse', 'cli']),
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['bin/**', 'scripts/**/*.js'], ...tseslint.configs.disableTypeChecked },
  // Build scripts are plain CommonJS run by node.
  { files: ['scripts/**/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
