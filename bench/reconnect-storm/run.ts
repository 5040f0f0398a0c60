/**
 * Reconnect storm: one of two pods is SIGKILLed under 10,000 subscribed clients; its clients
 * reconnect to the other pod with `since` and must recover every event they missed.
 *
 *   npm run build && npx tsx bench/reconnect-storm/run.ts [--clients 10000] [--channels 100]
 *     [--rate 50] [--warmup 5] [--after 5] [--generators 4] [--kill-at fresh-window|now]
 *
 * Two Tether pods (A and B) from dist/ with the DEFAULT handshake limits (per address 30,000/min,
 * per user 60/min, fixed one-minute windows counted in Redis) and `HOST_CHANNELS=feed:public`.
 * Load generators (storm-client.ts, child processes) hold the clients: distinct users, client g
 * on pod g % 2, subscribed to `feed:<g % channels>` (100 clients per channel by default). Once all
 * are subscribed, events are published at `--rate`/s through POST /admin/broadcast (a SERVICE
 * token), channels in turn, pods alternating, each carrying its channel's seq (1, 2, ...; a
 * channel's next publish waits for its previous answer, so seq order is log order).
 * After `--warmup` s pod A is SIGKILLed (publishing then goes to B only; the publishes A was
 * answering are awaited first, so no event's fate is unknown) and its clients reconnect to B
 * the way the SDK does (full-jitter backoff from 500 ms, `rate_limited` waits its retryAfter),
 * resubscribing with `since` = the last offset they saw. Publishing goes on until every client of
 * A has its answer, then `--after` s more; then a drain (until nothing is missing, 15 s at most).
 *
 * `--kill-at fresh-window` (default): the kill waits, publishing, for the first minute window
 * after the one in which the clients connected. All 10,000 clients come from 127.0.0.1, so the
 * initial connections fill the per-address window (10,000 of 30,000); a real pod dies long after
 * its clients connected. `--kill-at now` kills after the warm-up whatever the window: the storm
 * then shares the window with the initial connections (shows what the address limit does to
 * that case; the run waits for a minute to begin before it connects the clients).
 *
 * Prints: the storm (kill -> last client of A resubscribed and answered), recovered true/false,
 * per-client reconnect time (its drop -> its answer) p50/p99/max, attempts, handshake refusals by
 * code (and the limiter's counters per window from Redis), transport errors, and for every client
 * events lost / duplicated / out of order among all its channel's events published after it
 * subscribed; then the goal line: every client of A recovered (true) within 30 s and nothing lost,
 * duplicated or out of order -> PASS.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { signDevToken } from '../../src/core/auth/dev-token';
import {
  cpuSeconds,
  createDatabase,
  fdLimitFor,
  fmt,
  freePort,
  localRedisPid,
  machineBusySeconds,
  NodeProcess,
  newWorld,
  quantile,
  runBenchmark,
  sleep,
  spawnApp,
  spawnNode,
  stopChild,
  waitReady,
} from '../../tools/scratch';
import { Command, EVENT, Reply } from './protocol';

const TENANT = 'storm';
const GOAL_SECONDS = 30;
const DRAIN_MAX_MS = 15_000;
/** Past this, the storm is given up on (the run still reports). */
const STORM_MAX_MS = 150_000;

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    channels: { type: 'string', default: '100' },
    rate: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    after: { type: 'string', default: '5' },
    generators: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '25' },
    'kill-at': { type: 'string', default: 'fresh-window' },
    'connect-timeout': { type: 'string', default: '10000' },
  },
});
const CLIENTS = Number(args.clients);
const CHANNELS = Number(args.channels);
const RATE = Number(args.rate);
const WARMUP_S = Number(args.warmup);
const AFTER_S = Number(args.after);
const GENERATORS = Number(args.generators);
const CONCURRENCY = Number(args.concurrency);
const KILL_AT = args['kill-at'] as 'fresh-window' | 'now';
/** The SDK's default (its ackTimeoutMs, for the connect and for the subscribe answer). */
const CONNECT_TIMEOUT_MS = Number(args['connect-timeout']);
if (!Number.isInteger(CLIENTS) || CLIENTS < 2 || CLIENTS > 50_000) throw new Error('--clients must be 2..50000');
if (!Number.isInteger(CHANNELS) || CHANNELS < 1 || CHANNELS > 10_000) throw new Error('--channels must be 1..10000');
if (!(RATE > 0 && RATE <= 2000)) throw new Error('--rate must be in (0, 2000]');
if (!(WARMUP_S >= 1) || !(AFTER_S >= 0)) throw new Error('--warmup >= 1, --after >= 0');
if (!Number.isInteger(GENERATORS) || GENERATORS < 1 || GENERATORS > 16) throw new Error('--generators must be 1..16');
if (!['fresh-window', 'now'].includes(KILL_AT)) throw new Error('--kill-at must be fresh-window or now');

const world = newWorld('bench', 'storm');
const jwtSecret = randomBytes(24).toString('hex');
const redisPrefix = `${world.redisPrefix}-tether`;
const log = (line: string) => process.stdout.write(`  ${line}\n`);
const window = () => Math.floor(Date.now() / 60_000);

// ---- load generators ---------------------------------------------------------------------------

class Generator {
  readonly proc: NodeProcess;
  private waiting?: { type: Reply['type']; resolve: (r: Reply) => void; reject: (e: Error) => void };

  constructor(fdLimit: number | undefined) {
    this.proc = spawnNode(join(__dirname, 'storm-client.ts'), {}, { ipc: true, tsx: true, fdLimit });
    this.proc.child.on('message', (reply: Reply) => {
      if (this.waiting?.type === reply.type) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(reply);
      }
    });
    this.proc.child.once('exit', (code) => this.waiting?.reject(new Error(`load generator exited (${code}):\n${this.proc.output()}`)));
  }

  ask<T extends Reply['type']>(cmd: Command, type: T, timeoutMs = 300_000): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = {
        type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<Reply, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.proc.child.send(cmd);
    });
  }
}

// ---- pods --------------------------------------------------------------------------------------

async function startPod(fdLimit: number | undefined): Promise<{ url: string; proc: NodeProcess }> {
  const port = await freePort();
  const proc = spawnApp(
    {
      NODE_ENV: 'development',
      PORT: String(port),
      LOG_LEVEL: 'silent',
      DATABASE_URL: world.db.url,
      DB_AUTO_MIGRATE: 'false',
      REDIS_URL: world.redisUrl,
      REDIS_KEY_PREFIX: redisPrefix,
      MOBILE_JWT_SECRET: jwtSecret,
      JWT_ALGORITHM: 'HS256',
      HOST_CHANNELS: 'feed:public',
      // The handshake limits (REALTIME_CONNECTS_PER_MINUTE_PER_IP/_PER_USER) stay at their defaults: the point.
    },
    { fdLimit },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, proc);
  return { url, proc };
}

async function metric(url: string, pattern: RegExp): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** The kernel's TCP listen-queue counters (machine-wide, /proc/net/netstat): SYNs dropped because an accept queue was full. */
function listenCounters(): Record<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/).map(Number);
  const out: Record<string, number> = {};
  names.forEach((n, i) => {
    if (['ListenOverflows', 'ListenDrops', 'SyncookiesSent'].includes(n)) out[n] = values[i];
  });
  return out;
}

/** The limiter's counters (Redis): per address and window, and the highest per-user count per window. */
async function limiterCounters(): Promise<string[]> {
  const redis = new Redis(world.redisUrl, { maxRetriesPerRequest: 3 });
  const lines: string[] = [];
  try {
    const byIp = new Map<string, number>();
    const userMax = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}:rt:connrate:*`, 'COUNT', 2000);
      cursor = next;
      if (!keys.length) continue;
      const values = await redis.mget(...keys);
      keys.forEach((k, i) => {
        const rest = k.slice(`${redisPrefix}:rt:connrate:`.length);
        const win = rest.slice(rest.lastIndexOf(':') + 1);
        const stamp = new Date(Number(win) * 60_000).toISOString().slice(11, 16);
        if (rest.startsWith('ip:')) byIp.set(`${rest.slice(3, rest.lastIndexOf(':'))} @ ${stamp}`, Number(values[i]));
        else userMax.set(stamp, Math.max(userMax.get(stamp) ?? 0, Number(values[i])));
      });
    } while (cursor !== '0');
    for (const [k, v] of [...byIp].sort()) lines.push(`per address ${k} UTC window: ${v} handshakes (default limit 30,000)`);
    for (const [k, v] of [...userMax].sort()) lines.push(`per user, busiest user @ ${k} UTC window: ${v} handshakes (limit 60)`);
  } finally {
    redis.disconnect();
  }
  return lines;
}

// ---- publisher ---------------------------------------------------------------------------------

class Publisher {
  readonly published = Array.from({ length: CHANNELS }, () => 0);
  readonly failed: number[][] = Array.from({ length: CHANNELS }, () => []);
  readonly errors: Record<string, number> = {};
  /** Each channel's last publish: the next one of that channel waits for it. */
  private readonly chains: Promise<void>[] = Array.from({ length: CHANNELS }, () => Promise.resolve());
  private readonly inFlight = [new Set<Promise<void>>(), new Set<Promise<void>>()];
  private timer?: NodeJS.Timeout;
  private n = 0;
  /** Pods that may be published to. */
  alive = [true, true];
  sent = 0;

  constructor(
    private readonly urls: string[],
    private readonly token: string,
  ) {}

  start(): void {
    const started = Date.now();
    const tick = () => {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (this.n < due) this.publishNext();
    };
    this.timer = setInterval(tick, 10);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.chains);
  }

  /** Stops publishing to a pod and waits for its answers in flight. */
  async fence(pod: number): Promise<void> {
    this.alive[pod] = false;
    await Promise.all([...this.inFlight[pod]]);
  }

  private publishNext(): void {
    const k = this.n++;
    const ch = k % CHANNELS;
    const prefer = Math.floor(k / CHANNELS) % 2 === 0 ? k % 2 : 1 - (k % 2);
    this.chains[ch] = this.chains[ch].then(async () => {
      const seq = ++this.published[ch];
      let pod = this.alive[prefer] ? prefer : 1 - prefer;
      for (let attempt = 0; ; attempt++) {
        const done = this.post(pod, `feed:${ch}`, seq);
        const flight = this.inFlight[pod];
        const settled = done.then(() => undefined);
        flight.add(settled);
        void settled.then(() => flight.delete(settled));
        const ok = await done;
        if (ok) break;
        if (attempt >= 2) {
          // Never acknowledged: whether it was logged is unknown, so it is left out of the loss count.
          this.failed[ch].push(seq);
          break;
        }
        await sleep(200);
        pod = this.alive[pod] ? pod : 1 - pod;
      }
      this.sent++;
    });
  }

  private async post(pod: number, channel: string, seq: number): Promise<boolean> {
    try {
      const res = await fetch(`${this.urls[pod]}/api/mobile/v1/admin/broadcast`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel, event: EVENT, data: { seq, t: Date.now() } }),
      });
      await res.text();
      if (res.status === 202) return true;
      this.errors[`HTTP ${res.status}`] = (this.errors[`HTTP ${res.status}`] ?? 0) + 1;
    } catch (err) {
      const key = (err as Error).message.slice(0, 60);
      this.errors[key] = (this.errors[key] ?? 0) + 1;
    }
    return false;
  }
}

// ---- the experiment ----------------------------------------------------------------------------

let generators: Generator[] = [];

async function main(): Promise<void> {
  const fdLimit = fdLimitFor(CLIENTS + 2000);
  log(
    `reconnect storm: ${CLIENTS} clients on ${CHANNELS} channels, ${RATE} events/s, kill at ${KILL_AT}, ` +
      `connect/subscribe timeout ${CONNECT_TIMEOUT_MS} ms; ulimit -n ${fdLimit ?? 'as is'}`,
  );
  await createDatabase(world.db, { migrate: true });
  const a = await startPod(fdLimit);
  const b = await startPod(fdLimit);
  const urls = [a.url, b.url];
  log(`pod A ${a.url} (pid ${a.proc.pid}), pod B ${b.url} (pid ${b.proc.pid})`);

  generators = Array.from({ length: GENERATORS }, () => new Generator(fdLimitFor(CLIENTS / GENERATORS + 2000)));
  const share = Math.ceil(CLIENTS / GENERATORS);
  if (KILL_AT === 'now') {
    // Connections and storm in one window (as long as connecting takes under ~50 s): the worst case for the address limit.
    const wait = (window() + 1) * 60_000 + 200 - Date.now();
    log(`waiting ${fmt.n(wait)} ms for a minute window to begin`);
    await sleep(wait);
  }
  const connectStart = Date.now();
  const connected = await Promise.all(
    generators.map((gen, i) =>
      gen.ask(
        {
          type: 'connect',
          urls,
          first: i * share,
          clients: Math.max(0, Math.min(share, CLIENTS - i * share)),
          channels: CHANNELS,
          jwtSecret,
          tenantId: TENANT,
          concurrency: CONCURRENCY,
          timeoutMs: CONNECT_TIMEOUT_MS,
        },
        'connected',
        600_000,
      ),
    ),
  );
  const connectWindow = window();
  const nConnected = connected.reduce((s, r) => s + r.connected, 0);
  const connectErrors: Record<string, number> = {};
  for (const r of connected) for (const [k, v] of Object.entries(r.errors)) connectErrors[k] = (connectErrors[k] ?? 0) + v;
  log(
    `connected and subscribed ${nConnected}/${CLIENTS} in ${fmt.n(Date.now() - connectStart)} ms` +
      (Object.keys(connectErrors).length ? `; failures: ${JSON.stringify(connectErrors)}` : ''),
  );
  if (nConnected < CLIENTS) throw new Error('not every client could connect; the storm would not mean anything');

  const service = await signDevToken(jwtSecret, { sub: 'storm-backend', tid: TENANT, roles: ['SERVICE'] }, 7200);
  const publisher = new Publisher(urls, service);
  const publishStart = Date.now();
  publisher.start();
  await sleep(WARMUP_S * 1000);
  if (KILL_AT === 'fresh-window' && window() === connectWindow) {
    const wait = (connectWindow + 1) * 60_000 + 1000 - Date.now();
    log(`waiting ${fmt.n(wait)} ms (publishing) for the next minute window: the clients connected in this one`);
    await sleep(wait);
  }

  // The kill: publishing moves to B first (what A was answering is awaited), then SIGKILL.
  await publisher.fence(0);
  const redisPid = await localRedisPid(world.redisUrl);
  const cpu = () => ({
    b: cpuSeconds(b.proc.pid),
    gens: generators.reduce((s, g) => s + cpuSeconds(g.proc.pid), 0),
    redis: redisPid ? cpuSeconds(redisPid) : NaN,
    self: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    machine: machineBusySeconds(),
  });
  const cpuAtKill = cpu();
  const listenAtKill = listenCounters();
  const killAt = Date.now();
  a.proc.child.kill('SIGKILL');
  log(`SIGKILL pod A at +${fmt.n(killAt - publishStart)} ms of publishing (${publisher.sent} events sent)`);

  let lastPrint = killAt;
  for (;;) {
    await sleep(100);
    const storm = await Promise.all(generators.map((g) => g.ask({ type: 'progress' }, 'progress')));
    const pending = storm.reduce((s, r) => s + r.pending, 0);
    if (Date.now() - lastPrint >= 5000) {
      lastPrint = Date.now();
      log(`  +${fmt.n(Date.now() - killAt)} ms: ${pending} clients of A still reconnecting`);
    }
    if (pending === 0 || Date.now() - killAt > STORM_MAX_MS) break;
  }
  const stormEndSeen = Date.now();
  const cpuAtEnd = cpu();
  const listenAtEnd = listenCounters();
  await sleep(AFTER_S * 1000);
  await publisher.stop();
  const publishedTotal = publisher.published.reduce((s, n) => s + n, 0);
  log(`published ${publishedTotal} events in ${fmt.n(Date.now() - publishStart)} ms (errors: ${JSON.stringify(publisher.errors)})`);

  // Drain: until no client misses anything, or DRAIN_MAX_MS.
  const drainStart = Date.now();
  for (;;) {
    const p = await Promise.all(generators.map((g) => g.ask({ type: 'progress', published: publisher.published }, 'progress')));
    const missing = p.reduce((s, r) => s + r.missing, 0);
    if (missing === 0 || Date.now() - drainStart > DRAIN_MAX_MS) break;
    await sleep(250);
  }
  log(`drained in ${fmt.n(Date.now() - drainStart)} ms`);

  const reports = await Promise.all(
    generators.map((g) => g.ask({ type: 'report', published: publisher.published, failed: publisher.failed }, 'report')),
  );
  const sum = (
    k:
      | 'lost'
      | 'clientsWithLoss'
      | 'duplicates'
      | 'outOfOrder'
      | 'unexpectedDisconnects'
      | 'strays'
      | 'pending'
      | 'recoveredTrue'
      | 'recoveredFalse',
  ) => reports.reduce((s, r) => s + r[k], 0);
  const merge = (k: 'refusals' | 'transportErrors' | 'subscribeErrors') => {
    const out: Record<string, number> = {};
    for (const r of reports) for (const [key, v] of Object.entries(r[k])) out[key] = (out[key] ?? 0) + v;
    return out;
  };
  const reconnectMs = reports.flatMap((r) => r.reconnectMs);
  const fromKillMs = reports.flatMap((r) => r.recoveredAt.map((t) => t - killAt));
  const attempts = reports.flatMap((r) => r.attempts);
  const lastAt = Math.max(0, ...reports.map((r) => r.lastRecoveredAt));
  const ofA = Math.ceil(CLIENTS / 2);
  const pending = sum('pending');
  const stormMs = pending ? NaN : lastAt - killAt;
  const refusals = merge('refusals');
  const failedPublishes = publisher.failed.reduce((s, f) => s + f.length, 0);
  const handshakeFailuresB = await metric(b.url, /^tether_realtime_handshake_failures_total\{code="([^"]+)"\} (\S+)$/).catch(() => ({}));

  console.log('\nReconnect storm');
  log(`clients: ${CLIENTS} (${ofA} on pod A, killed), ${CHANNELS} channels, ${RATE} events/s, ${publishedTotal} events published`);
  log(
    `storm (SIGKILL -> last client of A resubscribed and answered): ${Number.isNaN(stormMs) ? `not over (${pending} pending after ${fmt.n(stormEndSeen - killAt)} ms)` : `${fmt.n(stormMs)} ms`}`,
  );
  log(`recovered: true ${sum('recoveredTrue')}, false ${sum('recoveredFalse')}, no answer ${pending} (of ${ofA})`);
  const q = (v: number[], p: number) => (v.length ? fmt.n(quantile(v, p)) : '-');
  log(`per client, its drop -> its answer: p50 ${q(reconnectMs, 0.5)} ms, p99 ${q(reconnectMs, 0.99)} ms, max ${q(reconnectMs, 1)} ms`);
  log(`per client, SIGKILL -> its answer: p50 ${q(fromKillMs, 0.5)} ms, p99 ${q(fromKillMs, 0.99)} ms`);
  const perSecond: Record<number, number> = {};
  for (const ms of fromKillMs) perSecond[Math.floor(ms / 1000)] = (perSecond[Math.floor(ms / 1000)] ?? 0) + 1;
  log(
    `answers per second after SIGKILL (s: clients): ${Object.entries(perSecond)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')}`,
  );
  log(
    `kernel listen queues during the storm (machine-wide /proc/net/netstat deltas): ` +
      Object.keys(listenAtEnd)
        .map((k) => `${k} ${listenAtEnd[k] - listenAtKill[k]}`)
        .join(', ') +
      ` (somaxconn ${readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()})`,
  );
  const attemptCounts: Record<number, number> = {};
  for (const n of attempts) attemptCounts[n] = (attemptCounts[n] ?? 0) + 1;
  log(`attempts per client (1 = first try): ${JSON.stringify(attemptCounts)}`);
  log(`handshake refusals during the storm (client side, by code): ${JSON.stringify(refusals)}`);
  log(`handshake failures counted by pod B (whole run, tether_realtime_handshake_failures_total): ${JSON.stringify(handshakeFailuresB)}`);
  log(`transport errors (e.g. the dead pod refusing): ${JSON.stringify(merge('transportErrors'))}`);
  log(`subscribe errors: ${JSON.stringify(merge('subscribeErrors'))}`);
  for (const line of await limiterCounters()) log(line);
  const wall = (stormEndSeen - killAt) / 1000;
  const busy = (k: keyof typeof cpuAtEnd) => `${((cpuAtEnd[k] - cpuAtKill[k]) / wall).toFixed(2)}`;
  log(
    `CPU during the storm (cores busy, /proc, over ${wall.toFixed(1)} s): pod B ${busy('b')}, load generators ${busy('gens')}, ` +
      `redis-server ${busy('redis')}, this process ${busy('self')}, whole machine ${busy('machine')} of ${availableParallelism()}`,
  );
  log(`disconnects of pod B's clients (unexpected): ${sum('unexpectedDisconnects')}`);
  log(
    `events: lost ${sum('lost')} (clients with loss ${sum('clientsWithLoss')}), duplicated ${sum('duplicates')}, out of order ${sum('outOfOrder')}, ` +
      `other channels' ${sum('strays')}; publishes never acknowledged (left out) ${failedPublishes}`,
  );

  const ok =
    pending === 0 &&
    sum('recoveredFalse') === 0 &&
    sum('recoveredTrue') === ofA &&
    stormMs <= GOAL_SECONDS * 1000 &&
    sum('lost') === 0 &&
    sum('duplicates') === 0 &&
    sum('outOfOrder') === 0 &&
    failedPublishes === 0;
  console.log(
    `\nGoal: every client of the killed pod recovered within ${GOAL_SECONDS} s, nothing lost: ${ok ? 'PASS' : 'FAIL'} ` +
      `(storm ${Number.isNaN(stormMs) ? 'not over' : `${(stormMs / 1000).toFixed(1)} s`}, recovered ${sum('recoveredTrue')}/${ofA}, ` +
      `lost ${sum('lost')}, duplicated ${sum('duplicates')}, rate_limited ${refusals.rate_limited ?? 0})`,
  );
}

runBenchmark('reconnect-storm bench', world, main, async () => {
  await Promise.all(
    generators.map(async (g) => {
      await g.ask({ type: 'close' }, 'closed', 10_000).catch(() => undefined);
      await stopChild(g.proc.child, 3000);
    }),
  );
});
