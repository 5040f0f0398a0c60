/**
 * Messaging: send-to-receive across two pods, Tether against a baseline in the same run.
 *
 *   npm run build && npx tsx bench/messaging/run.ts [--conversations 200] [--rates 250,500,1000,1500,2000]
 *     [--step-seconds 6]
 *
 * 200 direct conversations; in each, one user is connected to pod A and the other to pod B, both
 * with the conversation open (subscribed), and they take turns sending, so every message crosses
 * pods. Sends are open loop at each target rate, spread evenly over the conversations:
 * - Tether: two app processes from dist/, `message:send` over the socket (auth, channel policy,
 *   idempotent insert with the seq bump, event log, user rooms, the push check);
 * - baseline: two bare Socket.IO servers with the same Redis adapter that insert the same rows
 *   with `pg` (one statement) and emit to the room (baseline-server.ts).
 * Per rate and target: messages received per second by the other side, send-to-receive latency
 * p50/p99 (sender and receiver clocks are this process's), and `late`: messages not received within
 * 3 s of the step's end, or whose send failed. For Tether also the outbox's share of a send: the
 * mean time of its fast path (publishing the rows the send committed: log append, emit, live
 * copies, push check) against the mean send-to-ack time, from the processes' /metrics. (The outbox
 * rows themselves are written by the send's one SQL statement and cannot be timed apart.)
 * The two targets take turns at each rate. Everything this run creates (a database, a Redis key
 * prefix, child processes) is removed at the end, also on failure or Ctrl-C.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { io, Socket } from 'socket.io-client';
import { signDevToken } from '../../src/core/auth/dev-token';
import {
  createDatabase,
  freePort,
  newWorld,
  quantile,
  runBenchmark,
  sleep,
  spawnApp,
  spawnNode,
  table,
  waitReady,
} from '../../tools/scratch';

const TENANT = 'bench';
const GOAL_RATE = 1000;
const GOAL_P99_MS = 100;
const GOAL_RATIO = 0.5;
const DRAIN_MS = 3000;

const { values: args } = parseArgs({
  options: {
    conversations: { type: 'string', default: '200' },
    rates: { type: 'string', default: '250,500,1000,1500,2000' },
    'step-seconds': { type: 'string', default: '6' },
  },
});
const CONVERSATIONS = Number(args.conversations);
const RATES = args.rates!.split(',').map(Number);
const STEP_SECONDS = Number(args['step-seconds']);
if (!Number.isInteger(CONVERSATIONS) || CONVERSATIONS < 1 || CONVERSATIONS > 5000) throw new Error('--conversations must be 1..5000');
if (!RATES.every((r) => r > 0 && r <= 20000)) throw new Error('--rates must be in (0, 20000]');
if (!(STEP_SECONDS > 0 && STEP_SECONDS <= 60)) throw new Error('--step-seconds must be in (0, 60]');

const world = newWorld('bench', 'msg');
const jwtSecret = randomBytes(24).toString('hex');
const clients: Socket[] = [];
const log = (line: string) => process.stdout.write(`  ${line}\n`);
// Diagnostics only: extra node flags for the Tether processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
const serverNodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

// ---- targets ---------------------------------------------------------------------------------

interface Pair {
  conversationId: string;
  users: [string, string];
  /** users[0] on pod 0, users[1] on pod 1. */
  sockets: [Socket, Socket];
  turn: number;
}

interface Target {
  name: 'Tether' | 'baseline';
  pairs: Pair[];
  /** Tether's processes, whose /metrics tell the outbox's share of a send. */
  urls?: string[];
}

/** The outbox's counters summed over a target's processes. */
interface OutboxFigures {
  fastSeconds: number;
  fastCount: number;
  relayed: number;
}

async function outboxFigures(urls: string[] = []): Promise<OutboxFigures> {
  const sum: OutboxFigures = { fastSeconds: 0, fastCount: 0, relayed: 0 };
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    sum.fastSeconds += value('tether_outbox_fast_path_seconds_sum');
    sum.fastCount += value('tether_outbox_fast_path_seconds_count');
    sum.relayed += value('tether_outbox_published_total\\{path="relay"\\}');
  }
  return sum;
}

const token = (sub: string) => signDevToken(jwtSecret, { sub, tid: TENANT, roles: ['MEMBER'] }, 7200);

function open(url: string, options: Record<string, unknown>): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  clients.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function startTether(): Promise<Target> {
  const urls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const env = {
      NODE_ENV: 'development',
      PORT: String(port),
      LOG_LEVEL: 'silent',
      DATABASE_URL: world.db.url,
      DB_AUTO_MIGRATE: 'false',
      REDIS_URL: world.redisUrl,
      REDIS_KEY_PREFIX: `${world.redisPrefix}-tether`,
      MOBILE_JWT_SECRET: jwtSecret,
      JWT_ALGORITHM: 'HS256',
      REALTIME_CONNECTS_PER_MINUTE_PER_IP: '1000000',
      REALTIME_CONNECTS_PER_MINUTE_PER_USER: '1000000',
      REALTIME_EVENTS_PER_SECOND: '10000',
      RATE_LIMIT_PER_MINUTE: '1000000',
    };
    const proc = spawnApp(env, { nodeArgs: serverNodeArgs });
    const url = `http://127.0.0.1:${port}`;
    urls.push(url);
    await waitReady(`${url}/health/ready`, proc);
  }
  const pairs: Pair[] = [];
  const indexes = Array.from({ length: CONVERSATIONS }, (_, i) => i);
  await inBatches(indexes, 20, async (i) => {
    const users: [string, string] = [`t${i}a`, `t${i}b`];
    const res = await fetch(`${urls[0]}/api/mobile/v1/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(users[0])}` },
      body: JSON.stringify({ type: 'direct', participantIds: [users[1]] }),
    });
    if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    const sockets = (await Promise.all(
      users.map(async (u, pod) => {
        const s = await open(`${urls[pod]}/realtime`, { auth: { token: await token(u) } });
        const ack = await s.timeout(10_000).emitWithAck('subscribe', { channels: [`conversation:${id}`] });
        if (ack.subscribed?.length !== 1) throw new Error(`subscribe: ${JSON.stringify(ack)}`);
        return s;
      }),
    )) as [Socket, Socket];
    pairs[i] = { conversationId: id, users, sockets, turn: i % 2 };
  });
  return { name: 'Tether', pairs, urls };
}

async function startBaseline(): Promise<Target> {
  const urls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const env = {
      PORT: String(port),
      DATABASE_URL: world.db.url,
      REDIS_URL: world.redisUrl,
      REDIS_PREFIX: `${world.redisPrefix}-base`,
      BENCH_TENANT: TENANT,
      DB_POOL_SIZE: '10', // Tether's default DB_POOL_SIZE
    };
    const proc = spawnNode(join(__dirname, 'baseline-server.ts'), env, { tsx: true });
    const url = `http://127.0.0.1:${port}`;
    urls.push(url);
    await waitReady(`${url}/health`, proc);
  }
  // The same rows Tether writes for a direct conversation, written directly.
  const pairs: Pair[] = [];
  const db = new Client({ connectionString: world.db.url });
  await db.connect();
  try {
    const indexes = Array.from({ length: CONVERSATIONS }, (_, i) => i);
    await inBatches(indexes, 20, async (i) => {
      const users: [string, string] = [`b${i}a`, `b${i}b`];
      const id = randomUUID();
      await db.query(
        `WITH c AS (INSERT INTO conversations (id, tenant_id, type, created_by, direct_key) VALUES ($1, $2, 'direct', $3, $5) RETURNING id)
         INSERT INTO conversation_participants (conversation_id, user_id, tenant_id, role)
         SELECT c.id, u, $2, 'member' FROM c, unnest(ARRAY[$3, $4]::varchar[]) AS u`,
        [id, TENANT, users[0], users[1], [...users].sort().join('|')],
      );
      const sockets = (await Promise.all(
        users.map(async (u, pod) => {
          const s = await open(urls[pod], { auth: { user: u } });
          await s.timeout(10_000).emitWithAck('join', [id]);
          return s;
        }),
      )) as [Socket, Socket];
      pairs[i] = { conversationId: id, users, sockets, turn: i % 2 };
    });
  } finally {
    await db.end();
  }
  return { name: 'baseline', pairs };
}

// ---- measuring -------------------------------------------------------------------------------

interface StepResult {
  rate: number;
  sent: number;
  received: number;
  perSecond: number;
  p50: number;
  p99: number;
  lost: number;
  errors: number;
  /** Send to the sender's ack (the server's whole send path plus a round trip), mean ms. */
  ackMean: number;
  /** The outbox's fast path (publishing after the commit) per send, mean ms; Tether only. */
  fastPathMean?: number;
  /** Rows the relay published in the step (0 while Redis is fine). */
  relayed?: number;
}

/** Sends at `rate` for STEP_SECONDS (open loop), then waits for stragglers. */
async function runStep(target: Target, rate: number): Promise<StepResult> {
  const pending = new Map<string, { at: number; receiver: Socket }>();
  const latencies: number[] = [];
  const ackLatencies: number[] = [];
  const before = target.urls ? await outboxFigures(target.urls) : undefined;
  let errors = 0;
  let firstReceived = Infinity;
  let lastReceived = 0;
  const step = randomBytes(3).toString('hex');
  const listeners: [Socket, (p: { clientMessageId: string }) => void][] = [];
  for (const pair of target.pairs) {
    for (const socket of pair.sockets) {
      const onMessage = (payload: { clientMessageId: string }) => {
        const entry = pending.get(payload.clientMessageId);
        if (!entry || entry.receiver !== socket) return; // the sender's own echo
        pending.delete(payload.clientMessageId);
        const now = performance.now();
        latencies.push(now - entry.at);
        firstReceived = Math.min(firstReceived, now);
        lastReceived = now;
      };
      socket.on('message:new', onMessage);
      listeners.push([socket, onMessage]);
    }
  }
  const total = Math.round(rate * STEP_SECONDS);
  let sent = 0;
  let next = 0;
  const started = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const pair = target.pairs[next++ % target.pairs.length];
      const from = pair.turn++ % 2;
      const clientMessageId = `${step}-${sent}`;
      const at = performance.now();
      pending.set(clientMessageId, { at, receiver: pair.sockets[1 - from] });
      pair.sockets[from]
        .timeout(10_000)
        .emitWithAck('message:send', { conversationId: pair.conversationId, clientMessageId, content: `message ${sent} of step ${step}` })
        .then(
          (ack: { error?: unknown }) => {
            if (ack?.error) errors++;
            else ackLatencies.push(performance.now() - at);
          },
          () => errors++,
        );
    }
    await sleep(2);
  }
  const deadline = performance.now() + DRAIN_MS;
  while (pending.size && performance.now() < deadline) await sleep(20);
  for (const [socket, fn] of listeners) socket.off('message:new', fn);
  const after = target.urls ? await outboxFigures(target.urls) : undefined;
  const fastPathMean =
    before && after && after.fastCount > before.fastCount
      ? ((after.fastSeconds - before.fastSeconds) / (after.fastCount - before.fastCount)) * 1000
      : undefined;
  const window = Math.max((lastReceived - Math.min(firstReceived, started)) / 1000, STEP_SECONDS);
  return {
    rate,
    sent: total,
    received: latencies.length,
    perSecond: latencies.length / window,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    lost: pending.size,
    errors,
    ackMean: ackLatencies.reduce((a, b) => a + b, 0) / Math.max(1, ackLatencies.length),
    fastPathMean,
    relayed: before && after ? after.relayed - before.relayed : undefined,
  };
}

/** A short step at a low rate: JIT, pools and Redis subscriptions warm before measuring. */
async function warmUp(target: Target): Promise<void> {
  await runStep(target, 100);
}

// ---- report ----------------------------------------------------------------------------------

const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
const ok = (s: StepResult) => s.p99 < GOAL_P99_MS && s.lost === 0 && s.errors === 0;

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `messaging: ${CONVERSATIONS} conversations over two pods, rates ${RATES.join(',')}/s x ${STEP_SECONDS} s; ` +
      `db ${world.db.name}, redis prefix ${world.redisPrefix}\n`,
  );
  await createDatabase(world.db, { migrate: true });

  log('starting Tether (2 processes) and the baseline (2 processes), connecting clients');
  const tether = await startTether();
  const baseline = await startBaseline();
  log(`${clients.length} sockets connected; warming up`);
  await warmUp(tether);
  await warmUp(baseline);

  const results: { tether: StepResult; baseline: StepResult }[] = [];
  for (const rate of RATES) {
    const t = await runStep(tether, rate);
    await sleep(500);
    const b = await runStep(baseline, rate);
    await sleep(500);
    results.push({ tether: t, baseline: b });
    log(
      `${rate}/s: Tether ${t.perSecond.toFixed(0)}/s p50 ${ms(t.p50)} p99 ${ms(t.p99)} late ${t.lost + t.errors}; ` +
        `baseline ${b.perSecond.toFixed(0)}/s p50 ${ms(b.p50)} p99 ${ms(b.p99)} late ${b.lost + b.errors}; ` +
        `outbox fast path ${ms(t.fastPathMean ?? NaN)} ms of a ${ms(t.ackMean)} ms send-to-ack ` +
        `(${t.fastPathMean === undefined ? '-' : ((100 * t.fastPathMean) / t.ackMean).toFixed(0)}%), relayed ${t.relayed ?? '-'}`,
    );
  }

  const rows = results.map(({ tether: t, baseline: b }) => [
    String(t.rate),
    t.perSecond.toFixed(0),
    ms(t.p50),
    ms(t.p99),
    String(t.lost + t.errors),
    b.perSecond.toFixed(0),
    ms(b.p50),
    ms(b.p99),
    String(b.lost + b.errors),
    (t.perSecond / b.perSecond).toFixed(2),
  ]);
  const lines = [
    '',
    table(['target/s', 'Tether msg/s', 'p50 ms', 'p99 ms', 'late', 'baseline msg/s', 'p50 ms', 'p99 ms', 'late', 'ratio'], rows),
    '',
  ];
  // Peak: the most messages per second received in any step. Sustained: the highest received
  // rate of a step with p99 under the goal and nothing late or failed.
  const peak = (pick: (r: (typeof results)[number]) => StepResult) => Math.max(...results.map((r) => pick(r).perSecond));
  const sustained = (pick: (r: (typeof results)[number]) => StepResult) =>
    results
      .map(pick)
      .filter(ok)
      .reduce((m, s) => Math.max(m, s.perSecond), 0);
  const [tPeak, bPeak] = [peak((r) => r.tether), peak((r) => r.baseline)];
  const [tSus, bSus] = [sustained((r) => r.tether), sustained((r) => r.baseline)];
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
  lines.push(
    `peak: Tether ${tPeak.toFixed(0)} msg/s, baseline ${bPeak.toFixed(0)} msg/s, ratio ${(tPeak / bPeak).toFixed(2)} ` +
      `(goal >= ${GOAL_RATIO}: ${verdict(tPeak / bPeak >= GOAL_RATIO)})`,
    `sustained with p99 < ${GOAL_P99_MS} ms and nothing late: Tether ${tSus.toFixed(0)} msg/s ` +
      `(goal >= ${GOAL_RATE}: ${verdict(tSus >= GOAL_RATE)}), baseline ${bSus.toFixed(0)} msg/s`,
  );
  lines.push(`(took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  process.stdout.write(lines.join('\n') + '\n');
}

runBenchmark('messaging bench', world, main, () => {
  for (const c of clients) c.close();
});
