import js from '@eslint/js';
import { readdirSync } from 'node:fs';
import jest from 'eslint-plugin-jest';
import tseslint from 'typescript-eslint';

// A module reaches another only through its public surface, the folder's index.ts
// (`import { X } from '../realtime'`), never through its files; core/ knows no module.
const MODULES = readdirSync('src/modules', { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const moduleBoundaries = MODULES.map((name) => ({
  files: [`src/modules/${name}/**/*.ts`],
  ignores: ['**/*.spec.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: MODULES.filter((other) => other !== name).map((other) => ({
          group: [`**/${other}/*`],
          message: `Import ${other} through its index.ts ('../${other}'), not its files.`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'client/dist/**', 'node_modules/**', 'coverage/**', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read settings through AppConfig (src/config).',
        },
      ],
    },
  },
  ...moduleBoundaries,
  {
    files: ['src/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/modules/**'], message: 'core/ knows no module.' }] }] },
  },
  // Config, scripts, tests, benches and their scratch toolkit may read the environment.
  {
    files: ['src/config/**', 'scripts/**', 'test/**', 'bench/**', 'tools/**', 'client/test/**', 'client/scripts/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  { files: ['test/**', 'bench/**', 'tools/**', 'client/test/**', '**/*.spec.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // The SDK runs in browsers and React Native: no Node built-in (its tsconfig has no Node types either).
  {
    files: ['client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'path', 'crypto', 'events', 'buffer', 'util', 'http', 'https', 'net', 'os', 'stream', 'zlib', 'url', 'timers'].map(
            (name) => ({
              name,
              message: 'The SDK runs in React Native and browsers: no Node built-ins.',
            }),
          ),
          patterns: [{ group: ['node:*'], message: 'The SDK runs in React Native and browsers: no Node built-ins.' }],
        },
      ],
    },
  },
  // The demo page's script runs in the browser, on the SDK's bundle (global `Tether`).
  {
    files: ['src/modules/demo/page/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'atob', 'URLSearchParams', 'setTimeout', 'clearTimeout', 'Tether'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
  { files: ['client/scripts/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // A focused or skipped test silently shrinks the suite CI runs.
  {
    files: ['test/**/*.ts', 'client/test/**/*.ts', '**/*.spec.ts'],
    plugins: { jest },
    rules: { 'jest/no-focused-tests': 'error', 'jest/no-disabled-tests': 'error' },
  },
);
