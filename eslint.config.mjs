import js from '@eslint/js';
import jest from 'eslint-plugin-jest';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read settings through AppConfig (src/config).' },
      ],
    },
  },
  // Config, scripts, tests, benches and their scratch toolkit may read the environment.
  { files: ['src/config/**', 'scripts/**', 'test/**', 'bench/**', 'tools/**'], rules: { 'no-restricted-syntax': 'off' } },
  { files: ['test/**', 'bench/**', 'tools/**', '**/*.spec.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // A focused or skipped test silently shrinks the suite CI runs.
  {
    files: ['test/**/*.ts', '**/*.spec.ts'],
    plugins: { jest },
    rules: { 'jest/no-focused-tests': 'error', 'jest/no-disabled-tests': 'error' },
  },
);
