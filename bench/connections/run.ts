/**
 * Connection scale: one Tether pod against one bare Socket.IO server that verifies the same JWT in
 * its middleware (bare-server.ts), each holding N idle sockets (default 20,000) opened by
 * load-generator processes (load-client.ts).
 *
 *   npm run build && npx tsx bench/connections/run.ts [--sockets 20000] [--rounds 1] [--generators 4]
 *     [--concurrency 100] [--idle-seconds 10] [--warmup 200]
 *
 * Per round the two targets take turns (Tether first in odd rounds, bare first in even ones); each
 * is started fresh, warmed up (a few hundred sockets opened and closed), then:
 * - connect: every generator opens its share (one distinct user per socket, tokens signed before)
 *   as fast as it goes with `--concurrency` sockets in flight, from its own 127.0.0.x source
 *   address. Handshakes per second = sockets ready / (last ready - first opened). Latency from
 *   opening the WebSocket to the namespace CONNECT answer ("connect") and to ready: for Tether the
 *   `session` event (the user's channel joined, presence counted), for bare the CONNECT itself
 *   (its room is joined before that answer leaves). Server CPU (from /proc) over the phase, per
 *   1,000 handshakes; Redis's too (Tether's limiter, presence and room subscriptions run there).
 * - idle: 5 s of rest, then the event-loop delay over `--idle-seconds` with every socket
 *   connected: Tether's own tether_nodejs_eventloop_lag_{p99,mean,max}_seconds (prom-client's
 *   monitorEventLoopDelay, 10 ms resolution, reset at every /metrics scrape: one scrape opens the
 *   window, one closes it), bare's the same monitor through GET /lag.
 * - memory: VmRSS (/proc/<pid>/status) after a full GC forced through the server's inspector
 *   (rssAfterGc, 2.5 s settle before and after) before connecting and once all are idle; the
 *   growth divided by the sockets connected. The raw VmRSS after the idle window (no forced GC)
 *   is printed beside it.
 * Tether runs with REALTIME_CONNECTS_PER_MINUTE_PER_IP=1000000 (default 30,000/min per address; all
 * sockets come from a handful of loopback addresses here); the per-user limit keeps its default
 * (60/min), each socket being another user. Everything the run creates (a database, Redis keys,
 * child processes) is removed at the end, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  cpuSeconds,
  createDatabase,
  fdLimitFor,
  fmt,
  freePort,
  localRedisPid,
  machineBusySeconds,
  median,
  newWorld,
  NodeProcess,
  rss,
  rssAfterGc,
  runBenchmark,
  sleep,
  spawnApp,
  spawnNode,
  stopChild,
  table,
  waitReady,
} from '../../tools/scratch';
import { Command, Histogram, Reply } from './protocol';

const GOAL_HANDSHAKES = 0.7; // Tether/bare handshakes per second, at least
const GOAL_RSS = 1.2; // Tether/bare RSS per idle socket, at most
const GOAL_LAG = 1.2; // Tether/bare idle event-loop delay p99, at most (the issue names no figure: ours)
/** File descriptors a server needs besides its clients' sockets (Redis, PostgreSQL, inspector, libuv...). */
const FD_RESERVE = 150;
const TENANT = 'bench-conn';

const { values: args } = parseArgs({
  options: {
    sockets: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '1' },
    generators: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '10' },
    warmup: { type: 'string', default: '200' },
  },
});
const REQUESTED = Number(args.sockets);
const ROUNDS = Number(args.rounds);
const GENERATORS = Number(args.generators);
const CONCURRENCY = Number(args.concurrency);
const IDLE_SECONDS = Number(args['idle-seconds']);
const WARMUP = Number(args.warmup);
const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
if (!int(REQUESTED, 10, 200_000)) throw new Error('--sockets must be 10..200000');
if (!int(ROUNDS, 1, 10)) throw new Error('--rounds must be 1..10');
if (!int(GENERATORS, 1, 16)) throw new Error('--generators must be 1..16');
if (!int(CONCURRENCY, 1, 2000)) throw new Error('--concurrency must be 1..2000');
if (!int(IDLE_SECONDS, 1, 120)) throw new Error('--idle-seconds must be 1..120');
if (!int(WARMUP, 0, 10_000)) throw new Error('--warmup must be 0..10000');

// ---- the machine's limits ----------------------------------------------------------------------

const bashOut = (cmd: string) => execFileSync('bash', ['-c', cmd]).toString().trim();
const softFds = Number(bashOut('ulimit -n'));
const hardText = bashOut('ulimit -Hn');
const hardFds = hardText === 'unlimited' ? Infinity : Number(hardText);
/** One server holds every socket: it cannot hold more than its descriptor limit allows. */
const SOCKETS = Math.min(REQUESTED, hardFds - FD_RESERVE);
const fdLimit = fdLimitFor(SOCKETS + FD_RESERVE);
const [portLow, portHigh] = bashOut('cat /proc/sys/net/ipv4/ip_local_port_range').split(/\s+/).map(Number);

const world = newWorld('bench', 'conn');
const jwtSecret = randomBytes(24).toString('hex');
const log = (line: string) => process.stdout.write(`  ${line}\n`);
// The inspector only so that rssAfterGc can force a full GC; the young generation pinned at its
// default maximum from boot (see bench/realtime-fanout/README.md: otherwise its first growth lands
// in one target's window). Same flags for both servers.
const serverNodeArgs = [
  '--inspect=127.0.0.1:0',
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

// ---- load generators ---------------------------------------------------------------------------

class Generator {
  readonly proc: NodeProcess;
  private waiting?: { type: Reply['type']; resolve: (r: Reply) => void; reject: (e: Error) => void };

  constructor() {
    this.proc = spawnNode(join(__dirname, 'load-client.ts'), {}, { ipc: true, tsx: true, fdLimit });
    this.proc.child.on('message', (reply: Reply) => {
      if (this.waiting?.type !== reply.type) return;
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(reply);
    });
    this.proc.child.once('exit', (code) => this.waiting?.reject(new Error(`load generator exited (${code}):\n${this.proc.output()}`)));
  }

  ask<T extends Reply['type']>(cmd: Command, type: T, timeoutMs = 600_000): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = {
        type,
        resolve: (r) => (clearTimeout(timer), resolve(r as Extract<Reply, { type: T }>)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.proc.child.send(cmd);
    });
  }
}

/** [first, count) of each generator's share of `total` sockets starting at user index `base`. */
const shares = (base: number, total: number) =>
  Array.from({ length: GENERATORS }, (_, g) => {
    const from = Math.floor((g * total) / GENERATORS);
    return { first: base + from, count: Math.floor(((g + 1) * total) / GENERATORS) - from };
  });

// ---- the two targets ---------------------------------------------------------------------------

type Name = 'Tether' | 'bare';

interface Server {
  name: Name;
  proc: NodeProcess;
  url: string;
  /** Event-loop delay since the last call (and resets it), seconds. */
  lag(): Promise<{ p99: number; mean: number; max: number }>;
  /** Sockets the server itself counts as connected. */
  sockets(): Promise<number>;
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

async function startTether(round: number): Promise<Server> {
  const port = await freePort();
  const proc = spawnApp(
    {
      NODE_ENV: 'development',
      PORT: String(port),
      LOG_LEVEL: 'silent',
      DATABASE_URL: world.db.url,
      DB_AUTO_MIGRATE: 'false',
      REDIS_URL: world.redisUrl,
      REDIS_KEY_PREFIX: `${world.redisPrefix}-t${round}`,
      MOBILE_JWT_SECRET: jwtSecret,
      JWT_ALGORITHM: 'HS256',
      // 20,000 handshakes from a few loopback addresses in well under a minute (default 30,000/min).
      REALTIME_CONNECTS_PER_MINUTE_PER_IP: '1000000',
    },
    { nodeArgs: serverNodeArgs, fdLimit },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, proc);
  const scrape = async () => (await fetch(`${url}/metrics`)).text();
  return {
    name: 'Tether',
    proc,
    url,
    lag: async () => {
      const text = await scrape();
      const m = (suffix: string) => metric(text, `tether_nodejs_eventloop_lag_${suffix}_seconds`);
      return { p99: m('p99'), mean: m('mean'), max: m('max') };
    },
    sockets: async () => metric(await scrape(), 'tether_realtime_sockets'),
  };
}

async function startBare(): Promise<Server> {
  const port = await freePort();
  const proc = spawnNode(
    join(__dirname, 'bare-server.ts'),
    { PORT: String(port), JWT_SECRET: jwtSecret },
    { tsx: true, nodeArgs: serverNodeArgs, fdLimit },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/ready`, proc);
  return {
    name: 'bare',
    proc,
    url,
    lag: async () => (await (await fetch(`${url}/lag`)).json()) as { p99: number; mean: number; max: number },
    sockets: async () => ((await (await fetch(`${url}/stats`)).json()) as { sockets: number }).sockets,
  };
}

// ---- one measurement ---------------------------------------------------------------------------

interface Result {
  round: number;
  name: Name;
  position: number;
  connected: number;
  failed: number;
  errors: Record<string, number>;
  handshakesPerSec: number;
  connectP50: number;
  connectP99: number;
  readyP50: number;
  readyP99: number;
  /** CPU seconds per 1,000 handshakes: the server, Redis. */
  cpuPer1000: number;
  redisCpuPer1000: number;
  generatorCpuPer1000: number;
  addresses: string;
  /** Shares of one core during the connect phase: server, generators, the rest of the machine. */
  serverCpu: number;
  generatorCpu: number;
  otherCpu: number;
  rssBefore: number;
  rssAfter: number;
  rssIdleRaw: number;
  rssPerSocket: number;
  rssRawPerSocket: number;
  lag: { p99: number; mean: number; max: number };
  idleCpu: number;
  fdsIdle: number;
  fdsFull: number;
  serverSockets: number;
  stillOpen: number;
  closedByServer: number;
  deflate: number;
}

const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/**
 * One source address per generator for a measurement: those of 127.0.0.2-254 with the fewest TCP
 * sockets (any state). The previous measurement's closed sockets linger in TIME_WAIT for 60 s on
 * their addresses, and connect() searching a crowded ephemeral port range for a free 4-tuple costs
 * the generators kernel CPU that would land on whichever target comes second.
 */
function freshAddresses(): string[] {
  const used = new Map<string, number>();
  // Counted by the shell: 40,000 lines of `ss` would overflow execFileSync's buffer.
  for (const line of bashOut(`ss -Htan | awk '{sub(/:[0-9]+$/, "", $4); print $4}' | sort | uniq -c`).split('\n')) {
    const [count, local] = line.trim().split(/\s+/);
    if (local) used.set(local, Number(count));
  }
  const candidates = Array.from({ length: 253 }, (_, i) => `127.0.0.${i + 2}`);
  return candidates.sort((a, b) => (used.get(a) ?? 0) - (used.get(b) ?? 0)).slice(0, GENERATORS);
}
let redisPid: number | undefined;

async function measure(gens: Generator[], round: number, name: Name, position: number): Promise<Result> {
  const server = name === 'Tether' ? await startTether(round) : await startBare();
  const { pid } = server.proc;
  const waitSession = name === 'Tether';
  const addresses = freshAddresses();
  const connect = (base: number, total: number, concurrency: number) =>
    Promise.all(
      shares(base, total).map((s, g) =>
        gens[g].ask({ type: 'connect', url: server.url, ...s, concurrency, localAddress: addresses[g], waitSession }, 'connected'),
      ),
    );
  const closeAll = () => Promise.all(gens.map((g) => g.ask({ type: 'close' }, 'closed', 120_000)));
  const fdsBoot = fdCount(pid);
  try {
    // Warm-up: compile the handshake path and size the pools, on other users than the measured ones.
    if (WARMUP) {
      const warm = await connect(SOCKETS, WARMUP, Math.min(CONCURRENCY, 20));
      const failed = warm.reduce((s, r) => s + r.failed, 0);
      if (failed) throw new Error(`${name}: ${failed} warm-up sockets failed: ${JSON.stringify(warm.map((r) => r.errors))}`);
      await closeAll();
      // Until the server has let go of the warm-up sockets (their descriptors count against its limit).
      for (let i = 0; i < 100 && fdCount(pid) > fdsBoot + 10; i++) await sleep(100);
    }
    const fdsIdle = fdCount(pid);
    const [rssBefore] = await rssAfterGc([server.proc], 2500);

    // Connect phase.
    const cpu0 = cpuSeconds(pid);
    const redis0 = redisPid ? cpuSeconds(redisPid) : 0;
    const gen0 = gens.reduce((s, g) => s + cpuSeconds(g.proc.pid), 0);
    const machine0 = machineBusySeconds();
    const wall0 = Date.now();
    const replies = await connect(0, SOCKETS, CONCURRENCY);
    const wall = (Date.now() - wall0) / 1000;
    const serverCpuS = cpuSeconds(pid) - cpu0;
    const redisCpuS = redisPid ? cpuSeconds(redisPid) - redis0 : NaN;
    const genCpuS = gens.reduce((s, g) => s + cpuSeconds(g.proc.pid), 0) - gen0;
    const machineS = machineBusySeconds() - machine0;
    const connected = replies.reduce((s, r) => s + r.connected, 0);
    const failed = replies.reduce((s, r) => s + r.failed, 0);
    const errors: Record<string, number> = {};
    for (const r of replies) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const span = (Math.max(...replies.map((r) => r.endedAt)) - Math.min(...replies.map((r) => r.startedAt))) / 1000;
    const connectLat = new Histogram();
    const readyLat = new Histogram();
    for (const r of replies) {
      connectLat.addSparse(r.connectLatency);
      readyLat.addSparse(r.readyLatency);
    }
    const fdsFull = fdCount(pid);

    // Idle: rest, then the event-loop delay over the window (the first read opens it).
    await sleep(5000);
    await server.lag();
    const idleCpu0 = cpuSeconds(pid);
    await sleep(IDLE_SECONDS * 1000);
    const lag = await server.lag();
    const idleCpu = ((cpuSeconds(pid) - idleCpu0) / IDLE_SECONDS) * 100;
    const rssIdleRaw = rss(pid);
    const [rssAfter] = await rssAfterGc([server.proc], 2500);
    const serverSockets = await server.sockets();
    const status = await Promise.all(gens.map((g) => g.ask({ type: 'status' }, 'status')));

    const result: Result = {
      round,
      name,
      position,
      connected,
      failed,
      errors,
      handshakesPerSec: connected / span,
      connectP50: connectLat.quantile(0.5),
      connectP99: connectLat.quantile(0.99),
      readyP50: readyLat.quantile(0.5),
      readyP99: readyLat.quantile(0.99),
      cpuPer1000: (serverCpuS / connected) * 1000,
      redisCpuPer1000: (redisCpuS / connected) * 1000,
      generatorCpuPer1000: (genCpuS / connected) * 1000,
      addresses: `${addresses[0]}-${addresses[addresses.length - 1].split('.')[3]}`,
      serverCpu: (serverCpuS / wall) * 100,
      generatorCpu: (genCpuS / wall) * 100,
      otherCpu: ((machineS - serverCpuS - genCpuS - (redisPid ? redisCpuS : 0)) / wall) * 100,
      rssBefore,
      rssAfter,
      rssIdleRaw,
      rssPerSocket: (rssAfter - rssBefore) / connected,
      rssRawPerSocket: (rssIdleRaw - rssBefore) / connected,
      lag,
      idleCpu,
      fdsIdle,
      fdsFull,
      serverSockets,
      stillOpen: status.reduce((s, r) => s + r.open, 0),
      closedByServer: status.reduce((s, r) => s + r.closedByServer, 0),
      deflate: replies.reduce((s, r) => s + r.deflate, 0),
    };
    log(
      `round ${round} ${name}: ${connected} ready (${failed} failed${failed ? ` ${JSON.stringify(errors)}` : ''}) in ${span.toFixed(1)} s = ` +
        `${result.handshakesPerSec.toFixed(0)}/s; server CPU ${fmt.pct(result.serverCpu)}, generators ${fmt.pct(result.generatorCpu)}, ` +
        `other ${fmt.pct(result.otherCpu)}; RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MB; ` +
        `lag p99 ${(lag.p99 * 1000).toFixed(2)} ms; server counts ${serverSockets} sockets, generators hold ${result.stillOpen}` +
        (result.closedByServer ? `, ${result.closedByServer} closed by the server` : '') +
        `; fds ${fdsIdle} -> ${fdsFull}`,
    );
    return result;
  } finally {
    await closeAll().catch((err: Error) => log(`close: ${err.message}`));
    await stopChild(server.proc.child);
    await sleep(2000);
  }
}

// ---- report ------------------------------------------------------------------------------------

const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
const kb = (v: number) => (v / 1024).toFixed(2);
const mb = (v: number) => (v / 2 ** 20).toFixed(1);

function report(results: Result[]): void {
  process.stdout.write(
    `\nconnect phase (${SOCKETS.toLocaleString('en-US')} sockets, ${GENERATORS} generators x ${CONCURRENCY} in flight)\n`,
  );
  process.stdout.write(
    table(
      [
        'round',
        'target',
        'ready',
        'failed',
        'handshakes/s',
        'connect p50/p99 ms',
        'ready p50/p99 ms',
        'srv CPU',
        'gen CPU',
        'other CPU',
        'srv CPU s/1k',
        'Redis CPU s/1k',
        'gen CPU s/1k',
        'from',
      ],
      results.map((r) => [
        `${r.round}.${r.position}`,
        r.name,
        fmt.n(r.connected),
        fmt.n(r.failed),
        fmt.n(r.handshakesPerSec),
        `${ms(r.connectP50)} / ${ms(r.connectP99)}`,
        `${ms(r.readyP50)} / ${ms(r.readyP99)}`,
        fmt.pct(r.serverCpu),
        fmt.pct(r.generatorCpu),
        fmt.pct(r.otherCpu),
        r.cpuPer1000.toFixed(3),
        Number.isNaN(r.redisCpuPer1000) ? '-' : r.redisCpuPer1000.toFixed(3),
        r.generatorCpuPer1000.toFixed(3),
        r.addresses,
      ]),
      { markdown: true, left: [1, 13] },
    ) + '\n',
  );
  process.stdout.write(`\nidle with every socket connected (${IDLE_SECONDS} s window after 5 s of rest)\n`);
  process.stdout.write(
    table(
      [
        'round',
        'target',
        'RSS before MB',
        'RSS after MB',
        'RSS/socket KB',
        'raw idle RSS/socket KB',
        'lag p99 ms',
        'lag mean ms',
        'lag max ms',
        'idle CPU',
        'fds idle -> full',
      ],
      results.map((r) => [
        `${r.round}.${r.position}`,
        r.name,
        mb(r.rssBefore),
        mb(r.rssAfter),
        kb(r.rssPerSocket),
        kb(r.rssRawPerSocket),
        ms(r.lag.p99 * 1000),
        ms(r.lag.mean * 1000),
        ms(r.lag.max * 1000),
        fmt.pct(r.idleCpu),
        `${r.fdsIdle} -> ${r.fdsFull}`,
      ]),
      { markdown: true, left: [1] },
    ) + '\n',
  );
  const of = (name: Name, f: (r: Result) => number) => median(results.filter((r) => r.name === name).map(f));
  const ratio = (f: (r: Result) => number) => of('Tether', f) / of('bare', f);
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const hs = ratio((r) => r.handshakesPerSec);
  const mem = ratio((r) => r.rssPerSocket);
  const lag = ratio((r) => r.lag.p99);
  const rounds = ROUNDS > 1 ? ` (medians of ${ROUNDS} rounds)` : '';
  const failures = results.reduce((s, r) => s + r.failed + r.closedByServer, 0);
  // With few sockets the growth is within the allocator's noise and may even be negative.
  const memJudged = of('bare', (r) => r.rssPerSocket) > 0 && of('Tether', (r) => r.rssPerSocket) > 0;
  // A server at a full core was the limit of its handshake rate; below that, the generators or the machine were.
  const bound = (name: Name) => (of(name, (r) => r.serverCpu) >= 90 ? 'CPU-bound' : 'not CPU-bound');
  process.stdout.write(
    `\nnotes: Tether ran with REALTIME_CONNECTS_PER_MINUTE_PER_IP=1000000 (default 30,000/min; the defaults are measured elsewhere),` +
      ` one user per socket (per-user limit at its default, 60/min). Ready = Tether's \`session\` event / bare's namespace CONNECT.` +
      ` RSS = VmRSS after a full GC through the inspector; "raw idle" = VmRSS after the idle window without a forced GC.` +
      ` permessage-deflate negotiated on ${results.reduce((s, r) => s + r.deflate, 0)} sockets.` +
      (SOCKETS < REQUESTED ? ` ${REQUESTED} sockets asked, ${SOCKETS} run: the hard fd limit is ${hardFds} per process.` : '') +
      `\nserver CPU per 1,000 handshakes Tether/bare: ${fmt.x(ratio((r) => r.cpuPer1000))}` +
      `; connect p99 Tether/bare ${fmt.x(ratio((r) => r.connectP99))}, ready p99 ${fmt.x(ratio((r) => r.readyP99))}` +
      `; failed or dropped sockets: ${failures}` +
      `\nhandshakes/s one core could sustain (1,000 / server CPU s per 1,000): Tether ${fmt.n(1000 / of('Tether', (r) => r.cpuPer1000))}, bare ${fmt.n(1000 / of('bare', (r) => r.cpuPer1000))}, ` +
      `${fmt.x(1 / ratio((r) => r.cpuPer1000))} (what the handshakes/s ratio would be if the generators were never the limit)` +
      `\nduring the connect phase Tether was ${bound('Tether')} (${fmt.pct(of('Tether', (r) => r.serverCpu))} of a core), bare ${bound('bare')} (${fmt.pct(of('bare', (r) => r.serverCpu))})\n`,
  );
  process.stdout.write(
    `GOAL handshakes/s: Tether ${fmt.n(of('Tether', (r) => r.handshakesPerSec))} vs bare ${fmt.n(of('bare', (r) => r.handshakesPerSec))}${rounds} = ${fmt.x(hs)} (goal >= ${GOAL_HANDSHAKES}x) ${verdict(hs >= GOAL_HANDSHAKES && failures === 0)}\n` +
      `GOAL RSS per idle socket at ${fmt.n(SOCKETS)}: Tether ${kb(of('Tether', (r) => r.rssPerSocket))} KB vs bare ${kb(of('bare', (r) => r.rssPerSocket))} KB${rounds} = ${fmt.x(mem)} (goal <= ${GOAL_RSS}x) ${memJudged ? verdict(mem <= GOAL_RSS) : 'NOT JUDGED (RSS did not grow: too few sockets)'}\n` +
      `GOAL idle event-loop lag p99: Tether ${ms(of('Tether', (r) => r.lag.p99) * 1000)} ms vs bare ${ms(of('bare', (r) => r.lag.p99) * 1000)} ms${rounds} = ${fmt.x(lag)} (goal <= ${GOAL_LAG}x; 10 ms monitor resolution included in both) ${verdict(lag <= GOAL_LAG)}\n`,
  );
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.stdout.write(
    `connections: ${SOCKETS.toLocaleString('en-US')} sockets per target, ${ROUNDS} round(s), ${GENERATORS} generators x ${CONCURRENCY} in flight, ` +
      `a fresh source address per generator and measurement; ulimit -n ${softFds} (hard ${hardText}), servers get ${fdLimit ?? softFds}; ` +
      `ephemeral ports ${portLow}-${portHigh}; db ${world.db.name}, redis prefix ${world.redisPrefix}\n`,
  );
  if (SOCKETS < REQUESTED)
    log(
      `${REQUESTED} sockets asked, ${SOCKETS} run: one process may hold ${hardFds} descriptors (hard limit), ${FD_RESERVE} kept for the server's own`,
    );
  const perAddress = Math.ceil(SOCKETS / GENERATORS);
  if (perAddress > portHigh - portLow)
    throw new Error(`${perAddress} sockets per source address exceed the ${portHigh - portLow} ephemeral ports: raise --generators`);
  await createDatabase(world.db, { migrate: true });
  redisPid = await localRedisPid(world.redisUrl);
  const gens = Array.from({ length: GENERATORS }, () => new Generator());
  // Every generator signs the tokens of its own shares (measured and warm-up users), untimed.
  const measured = shares(0, SOCKETS);
  const warm = shares(SOCKETS, WARMUP);
  await Promise.all(
    gens.map(async (gen, g) => {
      await gen.ask({ type: 'prepare', jwtSecret, tenantId: TENANT, ...measured[g] }, 'prepared');
      if (warm[g].count) await gen.ask({ type: 'prepare', jwtSecret, tenantId: TENANT, ...warm[g] }, 'prepared');
    }),
  );
  log(`tokens signed; Redis pid ${redisPid ?? 'not visible (its CPU is not counted)'}`);

  const results: Result[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Name[] = round % 2 ? ['Tether', 'bare'] : ['bare', 'Tether'];
    for (const [i, name] of order.entries()) results.push(await measure(gens, round, name, i + 1));
  }
  report(results);
}

runBenchmark('connections', world, main);
