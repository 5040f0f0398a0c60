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
 * BENCH_DEBUG=1 (fan-out timings).
 * Each measurement runs in its own plain `node` process (harness.js): Nest's ESM packages need
 * Node's own module loader, which tsx replaces.
 */
import { deleteRedisKeys } from '../support/scratch';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.PUSH_CONCURRENCY ?? 16);
const RETRY_BASE_MS = Number(process.env.PUSH_RETRY_BASE_MS ?? 100);
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Result {
  tokensPerSecond: number;
  seconds: number;
  calls: number;
  transient: number;
}

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}


function step<T>(name: string, env: Record<string, string>): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'harness.js'), name], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as T);
      else reject(new Error(`${name} failed (exit ${code}): ${out.slice(-2000)}`));
    });
  });
}

async function main(): Promise<void> {
  const id = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbName = `tether_bench_${id}`;
  const prefix = `tether-bench-${id}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const env = {
    BENCH_DEVICES: String(DEVICES),
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_RETRY_BASE_MS: String(RETRY_BASE_MS),
    BENCH_DATABASE_URL: url.toString(),
    BENCH_REDIS_URL: REDIS_URL,
  };
  await admin(`CREATE DATABASE "${dbName}"`);
  try {
    process.stdout.write(`seeding ${DEVICES} devices (${DEVICES / 2} users) in ${dbName}... `);
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
          `tether ${Math.round(t.tokensPerSecond)} tokens/s (${t.seconds.toFixed(2)} s, ${t.calls} send calls, ${t.transient} transient errors retried)`,
      );
    }
    const median = (xs: Result[]) => xs.map((x) => x.tokensPerSecond).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const b = median(base);
    const t = median(ours);
    const ratio = t / b;
    console.log(
      `\npush pipeline: ${DEVICES} devices of ${DEVICES / 2} users, simulated FCM (20 ms per sendEach of 500, 0.5% transient errors),` +
        `\nworker concurrency ${CONCURRENCY}, retry backoff base ${RETRY_BASE_MS} ms, median of ${ROUNDS} rounds, every token delivered\n`,
    );
    const rows: [string, string][] = [
      ['baseline: bare BullMQ worker + pg + sender', `${Math.round(b)}`],
      ['tether: notify -> fan-out -> delivery', `${Math.round(t)}`],
      ['ratio tether / baseline', ratio.toFixed(2)],
    ];
    console.log(`| ${'measure'.padEnd(44)} | ${'tokens/s'.padStart(9)} |`);
    console.log(`|${'-'.repeat(46)}|${'-'.repeat(11)}|`);
    for (const [k, v] of rows) console.log(`| ${k.padEnd(44)} | ${v.padStart(9)} |`);
    console.log(`\ngoals: ratio >= 0.60 ${ratio >= 0.6 ? 'met' : 'NOT met'}; >= 50000 tokens/s ${t >= 50_000 ? 'met' : 'NOT met'}`);
  } finally {
    await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await deleteRedisKeys(REDIS_URL, `${prefix}:*`);
    await deleteRedisKeys(REDIS_URL, `${prefix}-baseline:*`);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
