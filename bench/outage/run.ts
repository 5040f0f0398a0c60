/**
 * Outage: message sends over HTTP through a Redis outage, on two pods and a private redis-server.
 *
 *   npm run build && npx tsx bench/outage/run.ts [--rate 50] [--conversations 20] [--before 5] [--outage 10] [--after 10]
 *
 * Two app processes share this run's database and a redis-server of their own (never the shared
 * one). In each of `--conversations` direct conversations a sender posts to pod A over HTTP, open
 * loop at `--rate` messages/s in all; the receiver (one user in every conversation) is a socket on
 * pod B subscribed to every conversation. After `--before` seconds Redis is killed (SIGKILL: its
 * data is gone, as after a restart without persistence) for `--outage` seconds, then started
 * again, empty; sends go on for `--after` seconds.
 * Printed: messages/s accepted (2xx) before, during and after, as ratios to before; the share of
 * 2xx, 503 and anything else during the outage; the time after Redis returns until the outbox is
 * drained (no row older than 1 s, the relay's default delay, on both pods' /metrics:
 * `tether_outbox_oldest_age_seconds`; "n/a" without an outbox) and until the receiver has every accepted message: live, or by recovery (`since`),
 * or by reloading over REST when told `recovered: false`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { io, Socket } from 'socket.io-client';
import { signDevToken } from '../../src/core/auth/dev-token';
import {
  createDatabase,
  freePort,
  newWorld,
  PrivateRedis,
  runBenchmark,
  sleep,
  spawnApp,
  startPrivateRedis,
  table,
  waitReady,
} from '../../tools/scratch';

const TENANT = 'bench';
const API = '/api/mobile/v1';
const SEND_TIMEOUT_MS = 10_000;
const SETTLE_LIMIT_MS = 60_000;

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '50' },
    conversations: { type: 'string', default: '20' },
    before: { type: 'string', default: '5' },
    outage: { type: 'string', default: '10' },
    after: { type: 'string', default: '10' },
  },
});
const RATE = Number(args.rate);
const CONVERSATIONS = Number(args.conversations);
const [BEFORE_S, OUTAGE_S, AFTER_S] = [args.before, args.outage, args.after].map(Number);
if (!(RATE > 0 && RATE <= 2000)) throw new Error('--rate must be in (0, 2000]');
if (!Number.isInteger(CONVERSATIONS) || CONVERSATIONS < 1 || CONVERSATIONS > 1000) throw new Error('--conversations must be 1..1000');
if (![BEFORE_S, OUTAGE_S, AFTER_S].every((s) => s > 0 && s <= 300)) throw new Error('--before/--outage/--after must be in (0, 300]');

const world = newWorld('bench', 'outage');
const jwtSecret = randomBytes(24).toString('hex');
const sockets: Socket[] = [];
let redis: PrivateRedis | undefined;
const log = (line: string) => process.stdout.write(`  ${line}\n`);
const token = (sub: string) => signDevToken(jwtSecret, { sub, tid: TENANT, roles: ['MEMBER'] }, 7200);

type Phase = 'before' | 'during' | 'after';
interface Send {
  phase: Phase;
  status: number; // 0: no answer (network error or timeout)
  id?: string;
}

async function startPods(): Promise<string[]> {
  return Promise.all(
    [0, 1].map(async () => {
      const port = await freePort();
      const proc = spawnApp({
        NODE_ENV: 'development',
        PORT: String(port),
        LOG_LEVEL: 'silent',
        DATABASE_URL: world.db.url,
        DB_AUTO_MIGRATE: 'false',
        REDIS_URL: redis!.url,
        REDIS_KEY_PREFIX: world.redisPrefix,
        MOBILE_JWT_SECRET: jwtSecret,
        JWT_ALGORITHM: 'HS256',
        RATE_LIMIT_PER_MINUTE: '1000000',
        REALTIME_EVENTS_PER_SECOND: '10000',
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(`${url}/health/ready`, proc);
      return url;
    }),
  );
}

async function api(url: string, user: string, method: string, path: string, body?: object): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${API}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(user)}` },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

/**
 * The age of the oldest undone outbox row (`tether_outbox_oldest_age_seconds`, the largest over the
 * pods), or undefined when a pod does not export it. Sends go on meanwhile, so the depth is rarely 0
 * at an instant; the backlog is gone once no row is older than the relay's delay.
 */
async function oldestOutboxRowSeconds(urls: string[]): Promise<number | undefined> {
  let oldest = 0;
  for (const url of urls) {
    const text = await fetch(`${url}/metrics`).then((r) => r.text());
    const line = text.split('\n').find((l) => l.startsWith('tether_outbox_oldest_age_seconds'));
    if (!line) return undefined;
    oldest = Math.max(oldest, Number(line.split(/\s+/).pop()));
  }
  return oldest;
}

async function experiment(): Promise<void> {
  await createDatabase(world.db, { migrate: true });
  redis = await startPrivateRedis();
  const [podA, podB] = await startPods();
  log(`two pods on a private redis-server (port ${redis.port}); ${CONVERSATIONS} conversations, ${RATE} sends/s over HTTP to pod A`);

  // Conversations s<i> <-> rx; rx listens on pod B.
  const conversations: string[] = [];
  for (let i = 0; i < CONVERSATIONS; i++) {
    const res = await api(podA, `s${i}`, 'POST', '/conversations', { type: 'direct', participantIds: ['rx'] });
    if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.json)}`);
    conversations.push(res.json.id);
  }
  const channels = conversations.map((id) => `conversation:${id}`);
  const rx = io(`${podB}/realtime`, { transports: ['websocket'], auth: { token: await token('rx') }, reconnection: true, forceNew: true });
  sockets.push(rx);
  await new Promise<void>((resolve, reject) => rx.once('connect', resolve).once('connect_error', reject));
  const received = new Map<string, 'live' | 'replay' | 'rest'>();
  const offsets: Record<string, string> = {};
  let replaying = false;
  rx.on('message:new', (message: { id: string }, meta: { channel: string; offset?: string }) => {
    if (!received.has(message.id)) received.set(message.id, replaying ? 'replay' : 'live');
    if (meta?.offset) offsets[meta.channel] = meta.offset;
  });
  const subscribed = await rx.timeout(10_000).emitWithAck('subscribe', { channels });
  Object.assign(offsets, subscribed.offsets);

  // Open-loop senders.
  const sends: Send[] = [];
  let phase: Phase = 'before';
  let stopped = false;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  const sender = (async () => {
    const started = performance.now();
    while (!stopped) {
      const i = n++;
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const at = phase;
      const c = i % CONVERSATIONS;
      const p = api(podA, `s${c}`, 'POST', `/conversations/${conversations[c]}/messages`, {
        clientMessageId: `m${i}`,
        content: `m${i}`,
      }).then(
        (res) => void sends.push({ phase: at, status: res.status, id: res.json?.id }),
        () => void sends.push({ phase: at, status: 0 }),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  })();

  await sleep(BEFORE_S * 1000);
  phase = 'during';
  await redis.stop();
  log(`Redis stopped at ${BEFORE_S} s`);
  await sleep(OUTAGE_S * 1000);
  await redis.start();
  const back = performance.now();
  phase = 'after';
  log(`Redis started again (empty) after ${OUTAGE_S} s`);

  // While sends go on: when is the outbox drained, when has the receiver everything accepted so far?
  let drainedMs: number | undefined;
  let outboxSeen = true;
  const watchOutbox = (async () => {
    while (performance.now() - back < SETTLE_LIMIT_MS) {
      const oldest = await oldestOutboxRowSeconds([podA, podB]).catch(() => Infinity);
      if (oldest === undefined) return void (outboxSeen = false);
      if (oldest < 1) return void (drainedMs = performance.now() - back);
      await sleep(100);
    }
  })();
  // Meanwhile, until rx has every message accepted before Redis returned (in flight then included):
  // live; else, once a second, a resubscribe with its offsets, and a REST reload on `recovered: false`.
  let completeMs: number | undefined;
  let recoveredFalse = 0;
  const watchReceiver = (async () => {
    await Promise.all([...inFlight]);
    const owed = sends.filter((s) => s.phase !== 'after' && s.status >= 200 && s.status < 300 && s.id).map((s) => s.id!);
    let lastTry = performance.now();
    while (performance.now() - back < SETTLE_LIMIT_MS) {
      if (owed.every((id) => received.has(id))) return void (completeMs = performance.now() - back);
      await sleep(50);
      if (performance.now() - lastTry < 1000) continue;
      lastTry = performance.now();
      replaying = true;
      const ack = await rx
        .timeout(5000)
        .emitWithAck('unsubscribe', { channels })
        .then(() => rx.timeout(5000).emitWithAck('subscribe', { channels, since: offsets }))
        .catch(() => ({ error: 'timeout' }));
      replaying = false;
      if (ack.error) continue;
      Object.assign(offsets, ack.offsets);
      for (const [i, channel] of channels.entries()) {
        if (ack.recovered?.[channel] !== false) continue;
        recoveredFalse++;
        const page = await api(podB, 'rx', 'GET', `/conversations/${conversations[i]}/messages?limit=100`);
        for (const m of (page.json?.messages ?? []) as { id: string }[]) if (!received.has(m.id)) received.set(m.id, 'rest');
      }
    }
  })();
  await sleep(AFTER_S * 1000);
  stopped = true;
  await sender;
  await Promise.all(inFlight);
  await watchReceiver;
  await sleep(1000); // the last sends' events are on their way
  const accepted = sends.filter((s) => s.status >= 200 && s.status < 300 && s.id).map((s) => s.id!);
  await watchOutbox;

  // ---- report ----------------------------------------------------------------------------------
  const seconds: Record<Phase, number> = { before: BEFORE_S, during: OUTAGE_S, after: AFTER_S };
  const ok = (s: Send) => s.status >= 200 && s.status < 300;
  const rateOf = (p: Phase) => sends.filter((s) => s.phase === p && ok(s)).length / seconds[p];
  const base = rateOf('before');
  const rows = (['before', 'during', 'after'] as Phase[]).map((p) => {
    const all = sends.filter((s) => s.phase === p);
    const share = (f: (s: Send) => boolean) => `${((100 * all.filter(f).length) / Math.max(1, all.length)).toFixed(0)}%`;
    return [
      p,
      String(all.length),
      rateOf(p).toFixed(1),
      (rateOf(p) / base).toFixed(2) + 'x',
      share(ok),
      share((s) => s.status === 503),
      share((s) => !ok(s) && s.status !== 503),
    ];
  });
  process.stdout.write('\n' + table(['phase', 'sent', 'accepted/s', 'vs before', '2xx', '503', 'other'], rows) + '\n\n');
  const how = { live: 0, replay: 0, rest: 0 };
  for (const id of accepted) {
    const way = received.get(id);
    if (way) how[way]++;
  }
  log(`offered ${RATE}/s; accepted ${accepted.length} of ${sends.length} sends`);
  log(
    `outbox drained ${
      outboxSeen
        ? drainedMs === undefined
          ? `not within ${SETTLE_LIMIT_MS / 1000} s`
          : `${(drainedMs / 1000).toFixed(1)} s`
        : 'n/a (no tether_outbox_oldest_age_seconds: no outbox in this build)'
    } after Redis returned`,
  );
  log(
    `receiver had every message accepted before Redis returned ${
      completeMs === undefined ? `NOT within ${SETTLE_LIMIT_MS / 1000} s` : `${(completeMs / 1000).toFixed(1)} s`
    } after it returned; of all ${accepted.length} accepted: ` +
      `(live ${how.live}, replayed ${how.replay}, reloaded over REST ${how.rest}; recovered:false ${recoveredFalse} times)`,
  );
}

runBenchmark('outage', world, experiment, async () => {
  for (const s of sockets) s.close();
  await redis?.destroy();
});
