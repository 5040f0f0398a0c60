/**
 * Push pipeline throughput: notify() -> BullMQ fan-out -> delivery jobs -> PushSender, next to a
 * baseline measured in the same run: a bare BullMQ worker doing the same per-job work (read the
 * job's 500 device rows from PostgreSQL, call the same simulated sender, retry the same way) with
 * no Tether code. FCM is simulated: 20 ms per sendEach call of up to 500 tokens, 0.5% transient
 * errors. Creates and drops its own database and Redis prefix.
 *
 *   npm run build && npx tsx bench/push-pipeline/run.ts
 *
 * Env: BENCH_DEVICES (100000), BENCH_ROUNDS (3), PUSH_CONCURRENCY (16), PUSH_RETRY_BASE_MS (100),
 * BENCH_DEBUG=1 (fan-out timings), BENCH_CPU_PROF=<dir> (a CPU profile of each side's measured send: <dir>/baseline.cpuprofile,
 * <dir>/tether.cpuprofile, the last round's), BENCH_TIMEOUT_MS (60000: a side that has not delivered every token by then fails).
 * Each measurement runs in its own plain `node` process (harness.js): Nest's ESM packages need
 * Node's own module loader, which tsx replaces.
 */
import { join } from 'node:path';
import { createDatabase, median, newWorld, runBenchmark, spawnNode, table } from '../../tools/scratch';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.PUSH_CONCURRENCY ?? 16);
const RETRY_BASE_MS = Number(process.env.PUSH_RETRY_BASE_MS ?? 100);
/** The performance issue's goal: Tether's push pipeline at least this fraction of the bare worker's tokens/s. */
const GOAL_RATIO = 0.9;
const goalLine = (ratio: number) =>
  `goal: Tether >= ${GOAL_RATIO.toFixed(2)}x bare BullMQ worker: ${ratio.toFixed(2)} ${ratio >= GOAL_RATIO ? 'PASS' : 'FAIL'}`;

interface Result {
  tokensPerSecond: number;
  seconds: number;
  calls: number;
  transient: number;
}

const world = newWorld('bench', 'push');

/** Runs one step of harness.js in its own process and returns what it printed on its RESULT line. */
async function step<T>(name: string, env: Record<string, string>): Promise<T> {
  const proc = spawnNode(join(__dirname, 'harness.js'), env, { args: [name], inheritStderr: true });
  const { code } = await proc.exited;
  const line = proc
    .output()
    .split('\n')
    .find((l) => l.startsWith('RESULT '));
  if (code === 0 && line) return JSON.parse(line.slice(7)) as T;
  throw new Error(`${name} failed (exit ${code}): ${proc.output().slice(-2000)}`);
}

async function main(): Promise<void> {
  const env = {
    BENCH_DEVICES: String(DEVICES),
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_RETRY_BASE_MS: String(RETRY_BASE_MS),
    BENCH_DATABASE_URL: world.db.url,
    BENCH_REDIS_URL: world.redisUrl,
    ...(process.env.BENCH_TIMEOUT_MS ? { BENCH_TIMEOUT_MS: process.env.BENCH_TIMEOUT_MS } : {}),
    ...(process.env.BENCH_CPU_PROF ? { BENCH_CPU_PROF: process.env.BENCH_CPU_PROF } : {}),
  };
  const prefix = world.redisPrefix;
  await createDatabase(world.db, { migrate: false }); // harness.js migrates it in its prepare step
  process.stdout.write(`seeding ${DEVICES} devices (${DEVICES / 2} users) in ${world.db.name}... `);
  await step('prepare', { ...env, BENCH_PREFIX: prefix });
  console.log('done');
  const base: Result[] = [];
  const ours: Result[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    base.push(await step<Result>('baseline', { ...env, BENCH_PREFIX: `${prefix}-baseline` }));
    ours.push(await step<Result>('tether', { ...env, BENCH_PREFIX: prefix }));
    const [b, t] = [base[round - 1], ours[round - 1]];
    console.log(
      `round ${round}: baseline ${Math.round(b.tokensPerSecond)} tokens/s (${b.seconds.toFixed(2)} s), ` +
        `tether ${Math.round(t.tokensPerSecond)} tokens/s (${t.seconds.toFixed(2)} s, ${t.calls} send calls, ` +
        `${t.transient} transient errors retried)`,
    );
    console.log(`round ${round} ${goalLine(t.tokensPerSecond / b.tokensPerSecond)}`);
  }
  const b = median(base.map((r) => r.tokensPerSecond));
  const t = median(ours.map((r) => r.tokensPerSecond));
  const ratio = t / b;
  console.log(
    `\npush pipeline: ${DEVICES} devices of ${DEVICES / 2} users, simulated FCM (20 ms per sendEach of 500, 0.5% transient errors),` +
      `\nworker concurrency ${CONCURRENCY}, retry backoff base ${RETRY_BASE_MS} ms, median of ${ROUNDS} rounds, every token delivered\n`,
  );
  const rows = [
    ['baseline: bare BullMQ worker + pg + sender', `${Math.round(b)}`],
    ['tether: notify -> fan-out -> delivery', `${Math.round(t)}`],
    ['ratio tether / baseline', ratio.toFixed(2)],
  ];
  console.log(table(['measure', 'tokens/s'], rows, { markdown: true, left: [0] }));
  // Each round's pair runs back to back, so the median of the rounds' ratios is steadier than the ratio of the medians on a shared machine.
  console.log(`\nmedian ${goalLine(median(base.map((r, i) => ours[i].tokensPerSecond / r.tokensPerSecond)))}`);
  console.log(`earlier goals: ratio >= 0.60 ${ratio >= 0.6 ? 'met' : 'NOT met'}; >= 50000 tokens/s ${t >= 50_000 ? 'met' : 'NOT met'}`);
}

runBenchmark('push-pipeline', world, main);
