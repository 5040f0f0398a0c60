import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const CLIENT = join(__dirname, '..');

// The SDK runs in React Native and browsers: its build for `platform: browser` must succeed with
// nothing but its own code and socket.io-client, and it stays within the size goal.
describe('@tether/client build', () => {
  it('bundles for browsers with no Node built-in', async () => {
    const result = await build({
      entryPoints: [join(CLIENT, 'src/index.ts'), join(CLIENT, 'src/react.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      external: ['react'],
      write: false,
      outdir: join(CLIENT, 'dist-test'),
      metafile: true,
      absWorkingDir: CLIENT,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((path) => !path.startsWith('src/') && !path.includes('node_modules/'))).toEqual([]);
    // Every package bundled is socket.io-client's own browser tree (no ws, no Node polyfills).
    const packages = new Set(
      inputs.filter((p) => p.includes('node_modules/')).map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)![1]),
    );
    expect([...packages].sort()).toEqual([
      '@socket.io/component-emitter',
      'engine.io-client',
      'engine.io-parser',
      'socket.io-client',
      'socket.io-parser',
    ]);
  });

  it('builds ESM, CommonJS, the browser bundle and types, and prints a size within the 12 KB goal', () => {
    const out = execFileSync(process.execPath, [join(CLIENT, 'scripts/build.mjs')], { encoding: 'utf8' });
    const match = /@tether\/client: ([\d.]+) KB minified \+ gzipped/.exec(out);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeLessThanOrEqual(12);
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'react.js', 'react.cjs', 'react.d.ts', 'tether.browser.js']) {
      expect(existsSync(join(CLIENT, 'dist', file))).toBe(true);
    }
  }, 60_000);
});
