// Builds @tether/client with esbuild: ESM and CommonJS for bundlers and Node, one browser bundle
// (with socket.io-client inside) for a <script> tag, type declarations with tsc, and prints the
// minified + gzipped size of the SDK's own code.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const entries = { index: join(root, 'src/index.ts'), react: join(root, 'src/react.ts') };
const external = ['socket.io-client', 'react'];
const SIZE_GOAL_BYTES = 12 * 1024;

export async function buildAll({ quiet = false } = {}) {
  rmSync(dist, { recursive: true, force: true });
  const common = { bundle: true, external, target: 'es2020', sourcemap: true, logLevel: 'error', absWorkingDir: root };
  await Promise.all([
    // platform 'neutral': no Node built-in may be imported (React Native and browsers have none).
    build({ ...common, entryPoints: entries, outdir: dist, format: 'esm', platform: 'neutral', outExtension: { '.js': '.js' } }),
    build({ ...common, entryPoints: entries, outdir: dist, format: 'cjs', platform: 'neutral', outExtension: { '.js': '.cjs' } }),
    // The <script> bundle the demo page loads: window.Tether.TetherClient.
    build({
      ...common,
      external: [],
      entryPoints: [entries.index],
      outfile: join(dist, 'tether.browser.js'),
      format: 'iife',
      globalName: 'Tether',
      platform: 'browser',
      minify: true,
    }),
  ]);
  execFileSync(process.execPath, [join(root, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  const size = await sdkSize();
  if (!quiet) {
    const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
    console.log(
      `@tether/client: ${kb(size.gzip)} minified + gzipped (${kb(size.minified)} minified), without socket.io-client; goal ${kb(SIZE_GOAL_BYTES)}` +
        (size.gzip > SIZE_GOAL_BYTES ? ' (OVER THE GOAL)' : ''),
    );
  }
  return size;
}

/** The SDK's own code (socket.io-client and react left out), minified for browsers, then gzipped. */
export async function sdkSize() {
  const result = await build({
    entryPoints: [entries.index],
    bundle: true,
    external,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    absWorkingDir: root,
    logLevel: 'error',
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildAll().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
