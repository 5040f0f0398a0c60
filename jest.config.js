// SWC for everything: Nest 12 (and jose) are ESM-only, and Jest cannot require(esm) on Node 20,
// so those packages are transformed to CommonJS too (see ../shared/STACK.md).
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2023',
    },
    module: { type: 'commonjs' },
  },
];
const ESM_DEPS = [
  '@nestjs',
  'jose',
  'file-type',
  'strtok3',
  'token-types',
  '@tokenizer',
  'uint8array-extras',
  '@borewit',
  'gaxios',
  'node-fetch',
  'data-uri-to-buffer',
  'fetch-blob',
  'formdata-polyfill',
  'node-domexception',
  'expo-server-sdk',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/client/test'],
  testRegex: '\\.(e2e-)?spec\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'json'],
  // (?!.*/node_modules/): judge the innermost node_modules segment (nested gaxios copies)
  transformIgnorePatterns: ['/node_modules/(?!(' + ESM_DEPS.join('|') + ')/)(?!.*/node_modules/)'],
  transform: { '^.+\\.(t|j)s$': swc },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
};
