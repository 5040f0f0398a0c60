/**
 * Realtime fan-out: Tether (two instances, one Redis) against bare Socket.IO with the same Redis
 * adapter (two baseline-server.ts processes), same clients, same publish shape, same run.
 *
 *   npm run build && npx tsx bench/realtime-fanout/run.ts [--quick] [--clients 2000]
 *     [--adapters classic,sharded] [--rates 5,10,20,30,40,60,80] [--step-seconds 4] [--generators 2]
 *
 * Per adapter mode: start both pairs of servers; for each target read the servers' RSS (after a
 * full GC), connect its clients (load-client.ts children, half the clients on each server), read
 * RSS again and warm up. Then publish at rising rates, the two targets taking turns at each rate
 * so that the drifts of a shared machine hit both alike (publishes alternate between a target's
 * two servers, open loop: a slow server does not slow the publisher down, it shows up as
 * latency), each until its knee. Prints one table per mode and a summary against the goals.
 * Everything it creates (a database, a Redis key prefix, child processes) is removed at the end,
 * also on failure or Ctrl-C.
 */
import { cleanUpOnSignals, deleteRedisKeys, freePort, stopChild } from '../support/scratch';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import WebSocket from 'ws';
import { Client } from 'pg';
import { signDevToken } from '../../src/core/auth/dev-token';
import { CHANNEL, Command, EVENT, Histogram, Payload, Reply } from './protocol';

const ROOT = join(__dirname, '..', '..');
const HERE = __dirname;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TENANT = 'bench-tenant';

// The knee: the first rate where any of these holds. We stop raising the rate after it.
const KNEE_P99_MS = 100;
const KNEE_DELIVERED_FRACTION = 0.95;
// A rate is run again (up to 3 runs in all) when it trips the knee or when the rest of the
// machine was busy during it (other CPU above half a core: someone else's work on a shared box).
const MAX_RUNS = 3; // 2 with --quick
const NOISY_OTHER_CPU = 50;
// The goals the summary checks.
const GOAL_THROUGHPUT = 0.8;
const GOAL_P99 = 1.5;
const GOAL_RSS = 1.5;

type Mode = 'classic' | 'sharded';
type TargetName = 'Tether' | 'baseline';

// ---- options ---------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string' },
    adapters: { type: 'string', default: 'classic,sharded' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    generators: { type: 'string', default: '2' },
  },
});
const QUICK = args.quick;
const CLIENTS = Number(args.clients ?? (QUICK ? 400 : 2000));
const RATES = (args.rates ?? (QUICK ? '5,20' : '5,10,20,30,40,60,80')).split(',').map(Number);
const STEP_SECONDS = Number(args['step-seconds'] ?? (QUICK ? 2 : 4));
const GENERATORS = Number(args.generators);
const MODES = args.adapters.split(',').map((m) => m.trim()) as Mode[];
if (!Number.isInteger(CLIENTS) || CLIENTS < 2) throw new Error('--clients must be an integer >= 2');
if (!RATES.every((r) => r > 0 && r <= 1000)) throw new Error('--rates must be numbers in (0, 1000]');
if (!(STEP_SECONDS > 0 && STEP_SECONDS <= 60)) throw new Error('--step-seconds must be in (0, 60]');
if (!Number.isInteger(GENERATORS) || GENERATORS < 1 || GENERATORS > 8) throw new Error('--generators must be 1..8');
if (!MODES.length || !MODES.every((m) => m === 'classic' || m === 'sharded')) throw new Error('--adapters: classic and/or sharded');

// ---- what this run owns, and its removal ---------------------------------------------------

const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const dbName = `tether_bench_${runId}`;
const redisPrefix = `tether-bench-${runId}`; // every key and channel of this run starts with it
const jwtSecret = randomBytes(24).toString('hex');
const children = new Set<ChildProcess>();

const log = (line: string) => process.stdout.write(`  ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createDatabase(): Promise<void> {
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${dbName}"`);
  } finally {
    await admin.end();
  }
}

function databaseUrl(): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  return url.toString();
}

/** Stops every child, drops the database, deletes the Redis keys. Each part runs even if another fails. */
async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
  try {
    const admin = new Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  } catch (err) {
    process.stderr.write(`cleanup: could not drop database ${dbName}: ${(err as Error).message}\n`);
  }
  await deleteRedisKeys(REDIS_URL, `${redisPrefix}*`).catch((err: Error) =>
    process.stderr.write(`cleanup: could not delete Redis keys ${redisPrefix}*: ${err.message}\n`),
  );
}

// ---- child processes -------------------------------------------------------------------------

/**
 * `ulimit -n` is per process and inherited: if ours is too low for the sockets a child will hold,
 * the child is started through bash, which raises it and then execs node (same pid, so /proc
 * readings and signals still reach node itself).
 */
const fdLimit = (() => {
  const soft = Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
  const hardText = execFileSync('bash', ['-c', 'ulimit -Hn']).toString().trim();
  const hard = hardText === 'unlimited' ? Infinity : Number(hardText);
  const needed = CLIENTS + 4096;
  return soft >= needed ? undefined : Math.min(65535, hard);
})();

// Every server runs with its inspector on a random loopback port, only so that run.ts can force a
// full GC before reading RSS (see idleRss); nothing is attached while measuring. For diagnostics,
// BENCH_SERVER_NODE_ARGS adds node flags to all four servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
// The young generation is pinned at its default maximum (2 x 16 MB) from boot: V8 otherwise grows it
// the first time allocation picks up, and when that step lands inside one target's RSS window
// (a burst of handshakes) it adds 8 KB per socket at 2,000 clients to whichever target it hits.
const serverNodeArgs = [
  '--inspect=127.0.0.1:0',
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

interface Child {
  process: ChildProcess;
  /** The last few KB it printed, for error messages. */
  output: () => string;
  /** Its inspector's WebSocket URL, when started with --inspect. */
  inspector: () => string | undefined;
}

/** Runs `node [--import tsx] <file>` as a child; tsx only for our TypeScript, never for Tether. */
function spawnNode(file: string, env: Record<string, string>, opts: { ipc?: boolean; tsx?: boolean; nodeArgs?: string[] } = {}): Child {
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(opts.tsx ? ['--import', 'tsx'] : []), file];
  const stdio = ['ignore', 'pipe', 'pipe', ...(opts.ipc ? ['ipc'] : [])] as ('ignore' | 'pipe' | 'ipc')[];
  const options = { cwd: ROOT, env: { ...process.env, ...env }, stdio };
  const child =
    fdLimit === undefined
      ? spawn(process.execPath, nodeArgs, options)
      : spawn('bash', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgs], options);
  let output = '';
  let inspector: string | undefined;
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
    inspector ??= /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return { process: child, output: () => output, inspector: () => inspector };
}


async function waitReady(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`${url} exited during boot:\n${child.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms:\n${child.output()}`);
}

/**
 * RSS of each server at rest: a full GC first (through its inspector), so that garbage from boot
 * or from the burst of handshakes does not count as memory the sockets hold, then VmRSS.
 */
async function idleRss(servers: Child[]): Promise<number[]> {
  await sleep(QUICK ? 300 : 1000);
  await Promise.all(servers.map((s) => collectGarbage(s.inspector())));
  await sleep(QUICK ? 300 : 1000);
  return servers.map((s) => rss(s.process.pid!));
}

/** A full GC in another node process, over the DevTools protocol. */
function collectGarbage(url: string | undefined): Promise<void> {
  if (!url) return Promise.reject(new Error('server has no inspector URL'));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => ws.terminate(), 20_000);
    ws.once('open', () => {
      ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    });
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { id?: number }).id !== 1) return;
      clearTimeout(timer);
      ws.close();
      resolve();
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error(`inspector ${url} closed early`)));
  });
}

/** Resident set size in bytes, from /proc/<pid>/status. */
function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

// ---- the two targets -------------------------------------------------------------------------

interface Target {
  name: TargetName;
  /** http://127.0.0.1:<port> of each of the two servers. */
  urls: string[];
  servers: Child[];
  pids: number[];
  /** Prefix of the Redis keys and pub/sub channels this target's servers use. */
  redisPrefix: string;
  jwtSecret?: string;
  publish(server: number, payload: Payload): Promise<number>;
  stop(): Promise<void>;
}

// One keep-alive agent: the publisher reuses connections, as a backend calling Tether would.
const agent = new Agent({ keepAlive: true });

function post(url: string, body: string, headers: Record<string, string> = {}, retry = true): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', ...headers },
        timeout: 15_000,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('timeout', () => req.destroy(new Error('publish timed out')));
    req.once('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed while idle (between steps) fails on reuse: the
      // documented race of HTTP keep-alive, not a server failure. Send once more on a new one.
      if (retry && req.reusedSocket && err.code === 'ECONNRESET') post(url, body, headers, false).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

async function startBaseline(mode: Mode): Promise<Target> {
  const servers = await Promise.all(
    [0, 1].map(async () => {
      const port = await freePort();
      const child = spawnNode(
        join(HERE, 'baseline-server.ts'),
        {
          PORT: String(port),
          REDIS_URL,
          ADAPTER_PREFIX: `${redisPrefix}-baseline-${mode}:sio`,
          REALTIME_ADAPTER: mode,
        },
        { tsx: true, nodeArgs: serverNodeArgs },
      );
      const url = `http://127.0.0.1:${port}`;
      await waitReady(`${url}/ready`, child);
      return { url, child };
    }),
  );
  return {
    name: 'baseline',
    redisPrefix: `${redisPrefix}-baseline-${mode}`,
    urls: servers.map((s) => s.url),
    servers: servers.map((s) => s.child),
    pids: servers.map((s) => s.child.process.pid!),
    publish: (i, payload) => post(`${servers[i].url}/publish`, JSON.stringify({ data: payload })),
    stop: async () => void (await Promise.all(servers.map((s) => stopChild(s.child.process)))),
  };
}

let migrated = false;

async function startTether(mode: Mode): Promise<Target> {
  const boot = async () => {
    const port = await freePort();
    const child = spawnNode(
      join(ROOT, 'dist', 'src', 'main.js'),
      {
        NODE_ENV: 'development',
        PORT: String(port),
        LOG_LEVEL: 'silent',
        DATABASE_URL: databaseUrl(),
        DB_AUTO_MIGRATE: 'true',
        REDIS_URL,
        REDIS_KEY_PREFIX: `${redisPrefix}-${mode}`,
        MOBILE_JWT_SECRET: jwtSecret,
        JWT_ALGORITHM: 'HS256',
        REALTIME_ADAPTER: mode,
        REALTIME_CONNECTS_PER_MINUTE_PER_IP: '1000000',
        REALTIME_CONNECTS_PER_MINUTE_PER_USER: '1000000',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
      { nodeArgs: serverNodeArgs },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}/health/ready`, child);
    return { url, child };
  };
  // The first boot migrates the fresh database: never two migrators at once.
  const servers = migrated ? await Promise.all([boot(), boot()]) : [await boot(), await boot()];
  migrated = true;
  const auth = `Bearer ${await signDevToken(jwtSecret, { sub: 'bench-publisher', tid: TENANT, roles: ['SERVICE'] }, 3600)}`;
  return {
    name: 'Tether',
    redisPrefix: `${redisPrefix}-${mode}`,
    urls: servers.map((s) => s.url),
    servers: servers.map((s) => s.child),
    pids: servers.map((s) => s.child.process.pid!),
    jwtSecret,
    publish: (i, payload) =>
      post(`${servers[i].url}/api/mobile/v1/admin/broadcast`, JSON.stringify({ channel: CHANNEL, event: EVENT, data: payload }), {
        authorization: auth,
      }),
    stop: async () => void (await Promise.all(servers.map((s) => stopChild(s.child.process)))),
  };
}

// ---- load generators -------------------------------------------------------------------------

class Generator {
  readonly pid: number;
  private readonly child: Child;
  private waiting?: {
    type: Reply['type'];
    resolve: (r: Reply) => void;
    reject: (e: Error) => void;
  };

  constructor() {
    this.child = spawnNode(join(HERE, 'load-client.ts'), {}, { ipc: true, tsx: true });
    this.pid = this.child.process.pid!;
    this.child.process.on('message', (reply: Reply) => {
      if (this.waiting?.type === reply.type) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(reply);
      }
    });
    this.child.process.once('exit', (code) => this.waiting?.reject(new Error(`load generator exited (${code}):\n${this.child.output()}`)));
  }

  /** Sends one command and waits for its reply (one at a time per generator). */
  ask<T extends Reply['type']>(cmd: Command, type: T, timeoutMs = 120_000): Promise<Extract<Reply, { type: T }>> {
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
      this.child.process.send(cmd);
    });
  }

  stop(): Promise<void> {
    return stopChild(this.child.process, 3000);
  }
}

// ---- measuring ---------------------------------------------------------------------------------

interface StepResult {
  rate: number;
  expectedPerSec: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  /** Publish request round trip (send -> 202), p50 and p99. */
  ackP50: number;
  ackP99: number;
  lost: number;
  clientsWithLoss: number;
  duplicates: number;
  publishErrors: number;
  disconnected: number;
  /** CPU of the two servers together, and of the load generators together (100 = one core). */
  serverCpu: number;
  generatorCpu: number;
  /** Redis CPU, and everything else on the machine that is not this benchmark (other users of the box). */
  redisCpu: number;
  otherCpu: number;
  /** Why this rate is the knee, if it is. */
  knee: string | undefined;
  /** How many runs this rate took (see runRate); the last one is reported. */
  attempts: number;
}

interface Side {
  target: Target;
  label: string;
  clients: number;
  rssPerSocket: number;
  connectMs: number;
  /** Redis keys, their bytes, and pub/sub channels of this target once its clients are connected. */
  redis: { keys: number; bytes: number; channels: number };
  steps: StepResult[];
}

const TITLE = 'Service times changed';
const CONTENT = 'The evening service starts at 19:30 this week. See you there!';

/** CPU time (user + system) of a process so far, in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at state; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function cpuSecondsOrZero(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0; // gone, or not ours to read
  }
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return (user + nice + system + irq + softirq + (steal || 0)) / CLOCK_TICKS;
}

/**
 * Waits (bounded) until the machine is quiet apart from this benchmark: its other CPU (busy CPU
 * minus every process of ours and Redis) stays under a quarter of a core for a second. The box
 * is shared; a neighbour's test suite would otherwise land in the middle of a measurement.
 */
let quietBudgetMs = QUICK ? 0 : 100_000; // in all; --quick never waits
async function waitForQuiet(): Promise<void> {
  const sample = () => machineBusySeconds() - ourCpuSeconds();
  const started = Date.now();
  let quietWindows = 0;
  while (quietWindows < 2 && Date.now() - started < Math.min(20_000, quietBudgetMs)) {
    const before = sample();
    await sleep(500);
    quietWindows = (100 * (sample() - before)) / 0.5 < 25 ? quietWindows + 1 : 0;
  }
  quietBudgetMs -= Date.now() - started;
}

/** The local Redis server's pid, to read its CPU; undefined if Redis runs elsewhere. */
async function findRedisPid(): Promise<number | undefined> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    return pid && cpuSecondsOrZero(pid) > 0 ? pid : undefined;
  } finally {
    redis.disconnect();
  }
}
let redisPid: number | undefined;

/** CPU seconds so far of everything this benchmark runs: run.ts, its children, and Redis. */
function ourCpuSeconds(): number {
  const self = process.cpuUsage();
  const pids = [...children].map((c) => c.pid!);
  if (redisPid) pids.push(redisPid);
  return (self.user + self.system) / 1e6 + pids.reduce((s, p) => s + cpuSecondsOrZero(p), 0);
}

/**
 * What one target keeps in Redis for its connected clients: keys under its prefix (with their
 * MEMORY USAGE) and the pub/sub channels its servers subscribe to.
 */
async function redisFootprint(prefix: string): Promise<{ keys: number; bytes: number; channels: number }> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    let keys = 0;
    let bytes = 0;
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      const pipeline = redis.pipeline();
      for (const key of batch) pipeline.memory('USAGE', key);
      for (const [, usage] of (await pipeline.exec()) ?? []) bytes += Number(usage ?? 0);
      keys += batch.length;
      cursor = next;
    } while (cursor !== '0' && ++rounds < 100_000);
    const classic = (await redis.pubsub('CHANNELS', `${prefix}*`)) as string[];
    const sharded = (await redis.call('PUBSUB', 'SHARDCHANNELS', `${prefix}*`).catch(() => [])) as string[];
    return { keys, bytes, channels: classic.length + sharded.length };
  } finally {
    redis.disconnect();
  }
}

/** Connects clients [from, to) of a target, split over the generators (contiguous slices). */
async function connectBatch(target: Target, gens: Generator[], from: number, to: number) {
  const share = Math.ceil((to - from) / gens.length);
  const replies = await Promise.all(
    gens.map((g, i) => {
      const offset = from + i * share;
      // Index parity picks the server, so each server gets half of any batch.
      const cmd: Command = {
        type: 'connect',
        group: target.name,
        urls: target.urls,
        clients: Math.max(0, Math.min(share, to - offset)),
        offset,
        jwtSecret: target.jwtSecret,
        tenantId: TENANT,
        concurrency: 50,
      };
      return g.ask(cmd, 'connected', 180_000);
    }),
  );
  return {
    connected: replies.reduce((s, r) => s + r.connected, 0),
    failed: replies.reduce((s, r) => s + r.failed, 0),
    firstError: replies.find((r) => r.firstError)?.firstError,
    ms: Math.max(...replies.map((r) => r.ms)),
  };
}

/**
 * Idle cost and readiness of one target: memory of both servers as its clients connect and
 * subscribe, then a warm-up that JIT-compiles the paths and proves every client receives.
 *
 * Clients connect in two halves, with memory read (after a full GC) before, between and after:
 * the second half's growth is what each further idle socket costs, once the one-time costs of
 * the first connections are paid (code compiled for the handshake path, pools and buffers sized
 * up, Redis client state). That marginal figure is the one the goal is checked against; the
 * overall growth is printed beside it.
 */
async function prepare(target: Target, gens: Generator[], label: string): Promise<Side> {
  const before = await idleRss(target.servers);
  const half = Math.floor(CLIENTS / 2);
  const first = await connectBatch(target, gens, 0, half);
  const middle = await idleRss(target.servers);
  const second = await connectBatch(target, gens, half, CLIENTS);
  const clients = first.connected + second.connected;
  const failed = first.failed + second.failed;
  const connectMs = first.ms + second.ms;
  log(`${label}: ${clients} clients connected and subscribed in ${(connectMs / 1000).toFixed(1)} s${failed ? `, ${failed} FAILED` : ''}`);
  if (failed) log(`${label}: first connect failure: ${first.firstError ?? second.firstError}`);
  if (clients === 0 || second.connected === 0) throw new Error(`${label}: clients could not connect`);
  const after = await idleRss(target.servers);
  const growth = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v - b[i], 0);
  const rssPerSocket = growth(after, middle) / second.connected;
  const mb = (v: number[]) => v.map((b) => (b / 2 ** 20).toFixed(0)).join(' + ');
  log(
    `${label}: RSS after a full GC ${mb(before)} MB -> ${mb(middle)} MB (half connected) -> ${mb(after)} MB: ` +
      `${fmt.kb(rssPerSocket)} per further idle socket, ${fmt.kb(growth(after, before) / clients)} overall`,
  );

  const redis = await redisFootprint(target.redisPrefix);
  log(`${label}: Redis holds ${redis.keys} keys (${fmt.kb(redis.bytes / clients)} per client), ${redis.channels} pub/sub channels`);
  const side: Side = { target, label, clients, rssPerSocket, connectMs, redis, steps: [] };
  let warm: StepResult | undefined;
  for (let round = 0; round < 3 && !(warm && warm.lost === 0); round++) warm = await runStep(side, gens, 10, QUICK ? 0.5 : 1);
  if (warm!.lost) log(`${label}: WARNING warm-up still lost ${warm!.lost} deliveries`);
  return side;
}

/**
 * One rate for one side. A run that trips the knee, or that shared the machine with a burst of
 * someone else's work, is run again, up to MAX_RUNS runs, and the last run is what counts: on a
 * shared two-core box one GC pause or a neighbour's test suite can push a p99 over 100 ms once.
 */
async function runRate(side: Side, gens: Generator[], rate: number): Promise<StepResult> {
  let result = await runStep(side, gens, rate, STEP_SECONDS);
  for (let run = 2; run <= (QUICK ? 2 : MAX_RUNS); run++) {
    const noisy = result.otherCpu > NOISY_OTHER_CPU;
    if (!result.knee && !(noisy && !QUICK)) break; // --quick only re-runs a knee
    const why = [result.knee && `tripped the knee (${result.knee})`, noisy && `other CPU ${result.otherCpu.toFixed(0)}%`];
    log(`${side.label}: ${rate}/s ${why.filter(Boolean).join(', ')}; run ${run}`);
    result = { ...(await runStep(side, gens, rate, STEP_SECONDS)), attempts: run };
  }
  return result;
}

let nextSeq = 1;

/** Publishes `rate`/s for `seconds`, alternating servers, then collects what every client got. */
async function runStep(side: Side, gens: Generator[], rate: number, seconds: number): Promise<StepResult> {
  const { target, clients } = side;
  const count = Math.max(1, Math.round(rate * seconds));
  const firstSeq = nextSeq;
  nextSeq += count;
  await waitForQuiet();
  const t0 = Date.now() + 100;
  // Throughput counts what arrives by the end of the window (+100 ms, the latency budget).
  const windowEnd = t0 + seconds * 1000 + KNEE_P99_MS;
  await Promise.all(gens.map((g) => g.ask({ type: 'step', group: target.name, firstSeq, count, windowEnd }, 'stepping')));
  // CPU over the step, per party: who pays for the fan-out, and how busy the box was otherwise.
  const cpu = (pids: number[]) => pids.reduce((s, p) => s + cpuSecondsOrZero(p), 0);
  const usage = () => ({
    server: cpu(target.pids),
    generator: cpu(gens.map((g) => g.pid)),
    redis: cpu(redisPid ? [redisPid] : []),
    ours: ourCpuSeconds(),
    machine: machineBusySeconds(),
  });
  const cpuBefore = usage();

  let publishErrors = 0;
  // How long each publish request took to be answered: Tether's HTTP + event-log cost shows here.
  const ack = new Histogram();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - Date.now();
    if (wait > 0) await sleep(wait);
    const payload: Payload = {
      seq: firstSeq + i,
      t: Date.now(),
      title: TITLE,
      content: CONTENT,
    };
    pending.push(
      target.publish(i % 2, payload).then(
        (status) => {
          ack.add(Date.now() - payload.t);
          if (status !== 202) publishErrors++;
        },
        () => void publishErrors++,
      ),
    );
  }
  await Promise.all(pending);

  // Drain: wait until every client has everything, or nothing new came for 2 s (10 s cap).
  const expectedDistinct = count * clients;
  let last = -1;
  let stalledSince = Date.now();
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const progress = await Promise.all(gens.map((g) => g.ask({ type: 'progress' }, 'progress')));
    const got = progress.reduce((s, p) => s + p.distinct, 0);
    if (got >= expectedDistinct) break;
    if (got !== last) [last, stalledSince] = [got, Date.now()];
    else if (Date.now() - stalledSince > 2000) break;
    await sleep(100);
  }
  const wall = (Date.now() - t0) / 1000;
  const cpuAfter = usage();
  const pct = (k: keyof typeof cpuAfter) => (100 * (cpuAfter[k] - cpuBefore[k])) / wall;
  const [serverCpu, generatorCpu, redisCpu] = [pct('server'), pct('generator'), pct('redis')];
  const otherCpu = Math.max(0, pct('machine') - pct('ours'));

  const reports = await Promise.all(gens.map((g) => g.ask({ type: 'report' }, 'report')));
  const latency = new Histogram();
  for (const r of reports) latency.addSparse(r.latency);
  const sum = (f: (r: (typeof reports)[number]) => number) => reports.reduce((s, r) => s + f(r), 0);
  const expectedPerSec = rate * clients;
  const deliveredPerSec = sum((r) => r.inWindow) / seconds;
  const p50 = latency.quantile(0.5);
  const p99 = latency.quantile(0.99);
  const lost = sum((r) => r.lost);
  const knee =
    lost > 0
      ? `lost ${lost}`
      : !(p99 <= KNEE_P99_MS)
        ? `p99 ${p99} ms > ${KNEE_P99_MS}`
        : deliveredPerSec < KNEE_DELIVERED_FRACTION * expectedPerSec
          ? `delivered ${((100 * deliveredPerSec) / expectedPerSec).toFixed(0)}% < ${KNEE_DELIVERED_FRACTION * 100}%`
          : undefined;
  return {
    rate,
    expectedPerSec,
    deliveredPerSec,
    p50,
    p99,
    ackP50: ack.quantile(0.5),
    ackP99: ack.quantile(0.99),
    lost,
    clientsWithLoss: sum((r) => r.clientsWithLoss),
    duplicates: sum((r) => r.duplicates),
    publishErrors,
    disconnected: sum((r) => r.disconnected),
    serverCpu,
    generatorCpu,
    knee,
    redisCpu,
    otherCpu,
    attempts: 1,
  };
}

interface ModeResult {
  mode: Mode;
  tether: Side;
  baseline: Side;
}

/**
 * Both pairs of servers run at once and the two targets take turns at each rate (which one goes
 * first alternates), so slow drifts of this noisy machine hit both alike. Only the target being published
 * to does any work; the other's sockets sit idle. Each side stops raising after its own knee.
 */
async function runMode(mode: Mode): Promise<ModeResult> {
  const targets: Target[] = [];
  const gens: Generator[] = [];
  try {
    targets.push(await startBaseline(mode));
    targets.push(await startTether(mode));
    for (let i = 0; i < GENERATORS; i++) gens.push(new Generator());
    const sides: Side[] = [];
    for (const target of targets) sides.push(await prepare(target, gens, `${mode}/${target.name}`));
    for (const [i, rate] of RATES.entries()) {
      const active = sides.filter((s) => !s.steps.some((x) => x.knee));
      if (!active.length) break;
      // Who goes first alternates from rate to rate, so neither always runs right after the other.
      for (const side of i % 2 ? [...active].reverse() : active) {
        const r = await runRate(side, gens, rate);
        side.steps.push(r);
        log(
          `${side.label}: ${rate}/s -> ${r.deliveredPerSec.toFixed(0)}/${r.expectedPerSec} msg/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
            `publish ack p50/p99 ${r.ackP50}/${r.ackP99} ms, lost ${r.lost}, CPU servers ${r.serverCpu.toFixed(0)}% ` +
            `generators ${r.generatorCpu.toFixed(0)}% redis ${r.redisCpu.toFixed(0)}% other ${r.otherCpu.toFixed(0)}%` +
            (r.knee ? `  <- knee (${r.knee})` : ''),
        );
      }
    }
    await Promise.all(gens.map((g) => g.ask({ type: 'close' }, 'closed', 30_000)));
    const [baseline, tether] = sides;
    return { mode, baseline, tether };
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await Promise.all(targets.map((t) => t.stop()));
  }
}

// ---- report ------------------------------------------------------------------------------------

const fmt = {
  n: (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : Math.round(v).toLocaleString('en-US')),
  ms: (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : String(v)),
  x: (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`),
  pct: (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)}%`),
  kb: (v: number) => `${(v / 1024).toFixed(1)} KB`,
};

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

function lossText(s: StepResult | undefined): string {
  if (!s) return '-';
  const extra = [
    s.publishErrors && `${s.publishErrors} pub err`,
    s.disconnected && `${s.disconnected} disc`,
    s.duplicates && `${s.duplicates} dup`,
  ]
    .filter(Boolean)
    .join(', ');
  return `${s.lost}${extra ? ` (${extra})` : ''}`;
}

const kneeOf = (s: Side) => s.steps.find((x) => x.knee);
/** Highest delivered msg/s at a rate below the side's knee (p99 <= 100 ms, no loss, >= 95%). */
const cleanThroughput = (s: Side) => Math.max(0, ...s.steps.filter((x) => !x.knee).map((x) => x.deliveredPerSec));

function printMode({ mode, tether, baseline }: ModeResult): string[] {
  const rates = [...new Set([...tether.steps, ...baseline.steps].map((s) => s.rate))].sort((a, b) => a - b);
  const mark = (s: StepResult | undefined) =>
    (s?.knee ? '*' : '') + (s && s.attempts > 1 ? `r${s.attempts}` : '') + (s && s.otherCpu > NOISY_OTHER_CPU ? '~' : '');
  const rows = rates.map((rate) => {
    const t = tether.steps.find((s) => s.rate === rate);
    const b = baseline.steps.find((s) => s.rate === rate);
    return [
      String(rate),
      fmt.n((t ?? b)!.expectedPerSec),
      fmt.n(t?.deliveredPerSec) + mark(t),
      fmt.n(b?.deliveredPerSec) + mark(b),
      fmt.x(t && b ? t.deliveredPerSec / b.deliveredPerSec : undefined),
      `${fmt.ms(t?.p50)} / ${fmt.ms(b?.p50)}`,
      `${fmt.ms(t?.p99)} / ${fmt.ms(b?.p99)}`,
      fmt.x(t && b ? t.p99 / Math.max(1, b.p99) : undefined),
      `${fmt.ms(t?.ackP99)} / ${fmt.ms(b?.ackP99)}`,
      `${fmt.pct(t?.serverCpu)} / ${fmt.pct(b?.serverCpu)}`,
      `${fmt.pct(t?.otherCpu)} / ${fmt.pct(b?.otherCpu)}`,
      lossText(t),
      lossText(b),
    ];
  });
  const rssRatio = tether.rssPerSocket / baseline.rssPerSocket;
  const kneeText = (s: Side) => {
    const k = kneeOf(s);
    return k ? `${k.rate}/s (${k.knee})` : `none up to ${s.steps[s.steps.length - 1].rate}/s`;
  };
  return [
    `\n=== adapter: ${mode} -- ${tether.clients} Tether / ${baseline.clients} baseline clients (half per instance), ${STEP_SECONDS} s per rate ===`,
    table(
      [
        'pub/s',
        'expected msg/s',
        'delivered Tether',
        'delivered base',
        'thr T/B',
        'p50 ms T / B',
        'p99 ms T / B',
        'p99 T/B',
        'pub ack p99 ms T / B',
        'srv CPU T / B',
        'other CPU T / B',
        'lost Tether',
        'lost base',
      ],
      rows,
    ),
    '(* knee: first rate with p99 > 100 ms, any loss, or delivered < 95% of expected; that side is not raised further.',
    ` rN: run N times (knee or noise), the last run shown. ~: still noisy (other CPU > ${NOISY_OTHER_CPU}%). 100% CPU = one core.`,
    ' srv CPU: both servers of the target. other CPU: the machine minus this benchmark and Redis, i.e. noise.)',
    `RSS per further idle socket (after a full GC): Tether ${fmt.kb(tether.rssPerSocket)}, baseline ${fmt.kb(baseline.rssPerSocket)}, ` +
      `ratio ${fmt.x(rssRatio)}`,
    `knee: Tether ${kneeText(tether)}; baseline ${kneeText(baseline)}`,
    `connect + subscribe of all clients: Tether ${(tether.connectMs / 1000).toFixed(1)} s, baseline ${(baseline.connectMs / 1000).toFixed(1)} s`,
    `Redis after connect: Tether ${tether.redis.keys} keys, ${fmt.kb(tether.redis.bytes / tether.clients)} per client, ` +
      `${tether.redis.channels} pub/sub channels; baseline ${baseline.redis.keys} keys, ${baseline.redis.channels} channels`,
  ];
}

function summary({ mode, tether, baseline }: ModeResult): string {
  const noisy = (...steps: (StepResult | undefined)[]) => steps.some((x) => x && x.otherCpu > NOISY_OTHER_CPU);
  // A verdict that rests on a run someone else's load disturbed says so.
  const verdict = (ok: boolean, disturbed = false) => (ok ? 'PASS' : 'FAIL') + (disturbed ? ' (noisy)' : '');
  // Throughput: the highest delivered msg/s below each side's knee; the knees decide it.
  const thr = cleanThroughput(tether) / cleanThroughput(baseline);
  // p99 at the same rate: every rate both ran, except where bare Socket.IO itself was past its
  // knee (there the machine, not Tether, is the limit). The worst ratio counts.
  const baselineKnee = kneeOf(baseline)?.rate ?? Infinity;
  const common = tether.steps
    .map((t) => ({ t, b: baseline.steps.find((s) => s.rate === t.rate) }))
    .filter((p): p is { t: StepResult; b: StepResult } => !!p.b && p.t.rate < baselineKnee);
  const worst = common.reduce<{ ratio: number; rate: number; noisy: boolean } | undefined>((w, { t, b }) => {
    const ratio = t.p99 / Math.max(1, b.p99);
    return !w || ratio > w.ratio ? { ratio, rate: t.rate, noisy: noisy(t, b) } : w;
  }, undefined);
  const rss = tether.rssPerSocket / baseline.rssPerSocket;
  // "No loss below the knee": Tether loses nothing at any rate bare Socket.IO handles cleanly
  // (below the baseline's knee). Tether's own knee counts loss, so below it loss is 0 by definition.
  const lossBelow = common.reduce((s, { t }) => s + t.lost, 0);
  const lossy = common.filter(({ t }) => t.lost > 0).map(({ t }) => t);
  return (
    `SUMMARY ${mode}: throughput ${fmt.n(cleanThroughput(tether))} vs ${fmt.n(cleanThroughput(baseline))} msg/s = ${fmt.x(thr)} ` +
    // No clean rate on the baseline's side (its knee at the first rate): nothing to compare against.
    `(goal >= ${GOAL_THROUGHPUT}x) ${cleanThroughput(baseline) > 0 ? verdict(thr >= GOAL_THROUGHPUT, noisy(kneeOf(tether), kneeOf(baseline))) : 'NOT JUDGED'}; ` +
    (worst
      ? `p99 worst ${fmt.x(worst.ratio)} at ${worst.rate}/s (goal <= ${GOAL_P99}x) ${verdict(worst.ratio <= GOAL_P99, worst.noisy)}; `
      : 'p99: no rate below the baseline knee to compare; ') +
    // With few clients (--quick) RSS moves by less than the allocator's noise and can even shrink.
    `RSS/socket ${fmt.x(rss)} (goal <= ${GOAL_RSS}x) ${baseline.rssPerSocket > 0 && tether.rssPerSocket > 0 ? verdict(rss <= GOAL_RSS) : 'NOT JUDGED (RSS did not grow)'}; ` +
    (common.length
      ? `loss below the knee: ${lossBelow} over ${common.length} rate(s) ${verdict(lossBelow === 0, noisy(...lossy))}`
      : 'loss below the knee: no rate to judge')
  );
}

function compareModes(results: ModeResult[]): string | undefined {
  if (results.length < 2) return undefined;
  const [a, b] = results;
  // Highest rate both modes ran below Tether's knee: compare latency there.
  const clean = (r: ModeResult) => r.tether.steps.filter((s) => !s.knee).map((s) => s.rate);
  const common = clean(a).filter((rate) => clean(b).includes(rate));
  const at = common.length ? Math.max(...common) : undefined;
  const p99 = (r: ModeResult) => r.tether.steps.find((s) => s.rate === at)?.p99 ?? Infinity;
  const [ta, tb] = [cleanThroughput(a.tether), cleanThroughput(b.tether)];
  const faster = ta !== tb ? (ta > tb ? a : b).mode : p99(a) !== p99(b) ? (p99(a) < p99(b) ? a : b).mode : 'no difference at these rates';
  return (
    `Tether ${a.mode} vs ${b.mode}: throughput below the knee ${fmt.n(ta)} vs ${fmt.n(tb)} msg/s` +
    (at ? `, p99 at ${at}/s ${p99(a)} vs ${p99(b)} ms` : '') +
    `, RSS/socket ${fmt.kb(a.tether.rssPerSocket)} vs ${fmt.kb(b.tether.rssPerSocket)} -> faster for Tether: ${faster}`
  );
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `realtime-fanout: ${CLIENTS} clients, rates ${RATES.join(',')}/s x ${STEP_SECONDS} s, adapters ${MODES.join(',')}, ` +
      `${GENERATORS} load generator(s); db ${dbName}, redis prefix ${redisPrefix}` +
      (fdLimit ? `, children get ulimit -n ${fdLimit}` : '') +
      '\n',
  );
  await createDatabase();
  redisPid = await findRedisPid();
  const results: ModeResult[] = [];
  for (const mode of MODES) {
    process.stdout.write(`[${mode}]\n`);
    results.push(await runMode(mode));
  }
  const lines = results.flatMap(printMode);
  lines.push('');
  for (const r of results) lines.push(summary(r));
  const modes = compareModes(results);
  if (modes) lines.push(modes);
  lines.push(`(took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  process.stdout.write(lines.join('\n') + '\n');
}

const cleanOnce = cleanUpOnSignals(cleanup);

main()
  .then(
    () => cleanOnce(),
    async (err: Error) => {
      process.stderr.write(`realtime-fanout failed: ${err.stack ?? err.message}\n`);
      await cleanOnce();
      process.exitCode = 1;
    },
  )
  .finally(() => agent.destroy());
