// A benchmark's life: run its experiment in a scratch world and leave nothing behind, whatever happens.
import { stopAll } from './processes';
import { removeWorld, ScratchWorld } from './world';

/**
 * Runs `cleanup` at most once, and on SIGINT/SIGTERM before exiting 130; returns the once-only
 * form for the normal and failed endings.
 */
export function cleanUpOnSignals(cleanup: () => Promise<void>): () => Promise<void> {
  let cleaning: Promise<void> | undefined;
  const cleanOnce = () => (cleaning ??= cleanup());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`);
      void cleanOnce().finally(() => process.exit(130));
    });
  }
  return cleanOnce;
}

/**
 * Runs `experiment`, then (also on failure or Ctrl-C) `release` (the run's own clients and
 * connections), stops every child process and removes the world. A failure is printed and sets
 * exit code 1.
 */
export function runBenchmark(
  name: string,
  world: ScratchWorld,
  experiment: () => Promise<void>,
  release: () => unknown = () => undefined,
): void {
  const cleanOnce = cleanUpOnSignals(async () => {
    await Promise.resolve(release()).catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`));
    await stopAll();
    await removeWorld(world);
  });
  experiment().then(
    () => cleanOnce(),
    async (err: Error) => {
      process.stderr.write(`${name} failed: ${err.stack ?? err.message}\n`);
      await cleanOnce();
      process.exitCode = 1;
    },
  );
}
