/**
 * Socket.IO per-message deflate: does it pay for itself? (the performance issue: "consider whether
 * Socket.IO's per-message deflate pays for itself on large events; keep it off if it does not").
 *
 *   npx tsx bench/socket-deflate/run.ts [--clients 200] [--rate 50] [--seconds 5] [--rounds 2]
 *     [--kinds small,typical,large] [--drain-seconds 4] [--modes off,on[,nct]]
 *
 * No database, no Redis, no Tether code: a bare Socket.IO 4 server (server.ts, its own process)
 * with `perMessageDeflate: false` (Tether's setting, Socket.IO's default) or `{ threshold: 1024 }`
 * (ws's default zlib settings: level 6, memLevel 8, 15-bit window, context takeover), and N
 * socket.io-client sockets (websocket transport) in a load-generator process (clients.ts), all in
 * one room. Per mode the server is started afresh and the clients connect; then, per payload kind
 * (small ~300 B, typical ~2 KB, large ~30 KB: a sync page of 60 events; payloads.ts), after 10
 * unmeasured events of that kind to warm both sides up, the server emits to the room at --rate for --seconds, and the
 * step lasts until every client has every event or --drain-seconds after the last emit (a step
 * that did not drain is followed by a fresh server and clients, so its backlog does not land in
 * the next one; its per-event figures then count the CPU of events still in flight). Per step:
 * - server CPU per delivered event (process.cpuUsage() of the server process: every thread, so
 *   zlib's work on the libuv pool counts), over the step;
 * - client CPU per received event (the load generator's process.cpuUsage(): frame, inflate, parse);
 * - bytes on the wire per delivered event: what the server's upgraded TCP sockets wrote
 *   (net.Socket bytesWritten, WebSocket framing included, TCP/IP headers not);
 * - delivered/s (from the first emit to the last receipt), p50/p99 latency (emit to receipt, one
 *   clock), and the events not delivered within the step.
 * The modes alternate (off, on; then on, off; ...) over --rounds so a shared machine's drift hits
 * both. `--modes` may add `nct`: `{ threshold: 1024, serverNoContextTakeover: true,
 * clientNoContextTakeover: true }`; engine.io sends every packet with `compress: true` and ws
 * applies the threshold only without context takeover, so under `on` small events are compressed
 * too, and `nct` is the setting under which the threshold works. Prints the steps, one line per
 * kind (deflate's CPU ratios, server and client, and the bytes saved) and a recommendation
 * computed from them.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanUpOnSignals, fdLimitFor, fmt, freePort, NodeProcess, sleep, spawnNode, stopAll, table, waitReady } from '../../tools/scratch';
import type { ClientCommand, ClientReply } from './clients';
import { Kind, KINDS } from './payloads';
import type { ServerCommand, ServerReply } from './server';

/** Deflate "pays for itself" when the server pays at most this much more CPU per delivered event. */
const MAX_CPU_RATIO = 1.25;
/** Events of each kind emitted before measuring, to warm the JIT and zlib on both sides. */
const WARMUP_EVENTS = 10;

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    kinds: { type: 'string', default: KINDS.join(',') },
    'drain-seconds': { type: 'string', default: '4' },
    modes: { type: 'string', default: 'off,on' },
  },
});
const CLIENTS = Number(args.clients);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const DRAIN_MS = Number(args['drain-seconds']) * 1000;
const STEP_KINDS = args.kinds!.split(',').map((k) => k.trim()) as Kind[];
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 5000) throw new Error('--clients must be 1..5000');
if (!(RATE > 0 && RATE <= 1000)) throw new Error('--rate must be in (0, 1000]');
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error('--seconds must be in (0, 60]');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 10) throw new Error('--rounds must be 1..10');
if (!(DRAIN_MS >= 0 && DRAIN_MS <= 60_000)) throw new Error('--drain-seconds must be in [0, 60]');
if (!STEP_KINDS.length || !STEP_KINDS.every((k) => KINDS.includes(k))) throw new Error(`--kinds: some of ${KINDS.join(',')}`);

type Mode = 'off' | 'on' | 'nct';
/** The mode the recommendation is about: `on` (the setting the issue names), else `nct`. */
let VERDICT_MODE: Mode = 'on';
const MODES = args.modes!.split(',').map((m) => m.trim()) as Mode[];
if (!MODES.includes('off') || MODES.length < 2 || !MODES.every((m) => ['off', 'on', 'nct'].includes(m)))
  throw new Error('--modes: off and at least one of on, nct');
if (!MODES.includes('on')) VERDICT_MODE = 'nct';
const log = (line: string) => process.stdout.write(`  ${line}\n`);

/** A child with an IPC channel, asked one question at a time. */
class Peer<C, R extends { type: string }> {
  constructor(readonly proc: NodeProcess) {}
  ask<T extends R['type']>(cmd: C, answer: T, timeoutMs = 60_000): Promise<Extract<R, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`no ${answer} within ${timeoutMs} ms:\n${this.proc.output().slice(-2000)}`)),
        timeoutMs,
      );
      const exit = () => fail(new Error(`exited while waiting for ${answer}:\n${this.proc.output().slice(-2000)}`));
      const onMessage = (m: R) => {
        if (m.type !== answer) return;
        cleanup();
        resolve(m as Extract<R, { type: T }>);
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.proc.child.off('message', onMessage);
        this.proc.child.off('exit', exit);
      };
      const fail = (err: Error) => {
        cleanup();
        reject(err);
      };
      this.proc.child.on('message', onMessage);
      this.proc.child.once('exit', exit);
      if (cmd !== undefined) this.proc.child.send(cmd as object);
    });
  }
}

interface Step {
  kind: Kind;
  mode: Mode;
  round: number;
  payloadBytes: number;
  expected: number;
  delivered: number;
  serverCpuUs: number;
  clientCpuUs: number;
  wireBytes: number;
  /** Client-to-server bytes (pongs, WebSocket close frames): context only. */
  readBytes: number;
  perSecond: number;
  p50: number;
  p99: number;
  emitLateMs: number;
}

const steps: Step[] = [];

type Pair = { server: Peer<ServerCommand, ServerReply>; clients: Peer<ClientCommand, ClientReply> };

/** A fresh server in `mode` and the clients, connected. */
async function start(mode: Mode, round: number): Promise<Pair> {
  const port = await freePort();
  const server = new Peer<ServerCommand, ServerReply>(
    spawnNode(
      join(__dirname, 'server.ts'),
      { PORT: String(port), DEFLATE: mode },
      { tsx: true, ipc: true, fdLimit: fdLimitFor(CLIENTS + 100) },
    ),
  );
  await waitReady(`http://127.0.0.1:${port}/ready`, server.proc);
  const clients = new Peer<ClientCommand, ClientReply>(
    spawnNode(
      join(__dirname, 'clients.ts'),
      { URL: `http://127.0.0.1:${port}`, CLIENTS: String(CLIENTS) },
      { tsx: true, ipc: true, fdLimit: fdLimitFor(CLIENTS + 100) },
    ),
  );
  const connected = await clients.ask(undefined as unknown as ClientCommand, 'connected');
  const onServer = await server.ask({ type: 'sample' }, 'sample');
  log(
    `round ${round}, deflate ${mode}: ${connected.connected} clients connected in ${connected.ms} ms (${connected.failed} failed); ` +
      `permessage-deflate negotiated by ${connected.deflating} clients, ${onServer.deflating} server sockets`,
  );
  if (connected.connected < CLIENTS) throw new Error(`only ${connected.connected} of ${CLIENTS} clients connected`);
  return { server, clients };
}

async function stop(pair: Pair): Promise<void> {
  await pair.clients.ask({ type: 'close' }, 'closed', 5000).catch(() => undefined);
  await stopAll();
}

async function runMode(mode: Mode, round: number): Promise<void> {
  let pair = await start(mode, round);
  for (const kind of STEP_KINDS) {
    // Warm-up: a few events of this kind, unmeasured (JIT, zlib contexts, buffers).
    await pair.server.ask({ type: 'prepare', kind, count: WARMUP_EVENTS }, 'prepared');
    await measure(pair.server, pair.clients, WARMUP_EVENTS, Math.min(RATE, 50));
    const count = Math.round(RATE * SECONDS);
    const { meanBytes } = await pair.server.ask({ type: 'prepare', kind, count }, 'prepared');
    const m = await measure(pair.server, pair.clients, count, RATE);
    const step: Step = { kind, mode, round, payloadBytes: meanBytes, ...m };
    steps.push(step);
    log(
      `  ${kind.padEnd(7)} ${fmt.kb(meanBytes).padStart(8)}: server ${fmt.n(step.serverCpuUs / step.delivered, 1)} us, ` +
        `client ${fmt.n(step.clientCpuUs / step.delivered, 1)} us, wire ${fmt.n(step.wireBytes / step.delivered)} B per event; ` +
        `${fmt.n(step.perSecond)}/s, p50 ${fmt.n(step.p50, 1)} ms, p99 ${fmt.n(step.p99, 1)} ms, ` +
        `undelivered ${fmt.n(step.expected - step.delivered)}`,
    );
    if (step.delivered < step.expected && kind !== STEP_KINDS[STEP_KINDS.length - 1]) {
      // Its backlog would land in the next step: the next kind gets a fresh server and clients.
      log(`  ${kind}: not drained within ${DRAIN_MS / 1000} s; restarting the server and clients`);
      await stop(pair);
      pair = await start(mode, round);
    }
  }
  await stop(pair);
}

async function measure(
  server: Peer<ServerCommand, ServerReply>,
  clients: Peer<ClientCommand, ClientReply>,
  count: number,
  rate: number,
): Promise<Omit<Step, 'kind' | 'mode' | 'round' | 'payloadBytes'>> {
  clients.proc.child.send({ type: 'reset' });
  const c0 = await clients.ask({ type: 'progress' }, 'progress');
  const s0 = await server.ask({ type: 'sample' }, 'sample');
  const expected = count * CLIENTS;
  const emitted = await server.ask({ type: 'emit', rate }, 'emitted', 120_000);
  const deadline = performance.now() + DRAIN_MS;
  for (;;) {
    const p = await clients.ask({ type: 'progress' }, 'progress');
    if (p.received >= expected || performance.now() > deadline) break;
    await sleep(50);
  }
  const c1 = await clients.ask({ type: 'sample' }, 'sample');
  const s1 = await server.ask({ type: 'sample' }, 'sample');
  if (c1.disconnected) throw new Error(`${c1.disconnected} clients disconnected`);
  return {
    expected,
    delivered: c1.received,
    serverCpuUs: s1.cpuUs - s0.cpuUs,
    clientCpuUs: c1.cpuUs - c0.cpuUs,
    wireBytes: s1.written - s0.written,
    readBytes: s1.read - s0.read,
    perSecond: c1.received / Math.max(0.001, (c1.lastAt - emitted.startedAt) / 1000),
    p50: c1.p50,
    p99: c1.p99,
    emitLateMs: emitted.lateMs,
  };
}

/** Totals over the rounds of one kind and mode: per-event figures weigh every delivered event alike. */
function totals(kind: Kind, mode: Mode) {
  const xs = steps.filter((s) => s.kind === kind && s.mode === mode);
  const delivered = xs.reduce((a, s) => a + s.delivered, 0);
  const sum = (f: (s: Step) => number) => xs.reduce((a, s) => a + f(s), 0);
  return {
    n: xs.length,
    server: sum((s) => s.serverCpuUs) / delivered,
    client: sum((s) => s.clientCpuUs) / delivered,
    wire: sum((s) => s.wireBytes) / delivered,
    perSecond: xs.map((s) => s.perSecond),
    p99: xs.map((s) => s.p99),
    undelivered: sum((s) => s.expected - s.delivered),
  };
}

function report(): void {
  process.stdout.write('\nPer step (per delivered event; wire = bytes the server wrote to TCP):\n');
  const rows = STEP_KINDS.flatMap((kind) =>
    steps
      .filter((s) => s.kind === kind)
      .sort((a, b) => a.mode.localeCompare(b.mode) || a.round - b.round)
      .map((s) => [
        kind,
        s.mode,
        String(s.round),
        fmt.n(s.payloadBytes),
        fmt.n(s.serverCpuUs / s.delivered, 1),
        fmt.n(s.clientCpuUs / s.delivered, 1),
        fmt.n(s.wireBytes / s.delivered),
        fmt.n(s.perSecond),
        fmt.n(s.p50, 1),
        fmt.n(s.p99, 1),
        fmt.n(s.expected - s.delivered),
      ]),
  );
  process.stdout.write(
    table(
      ['kind', 'deflate', 'round', 'payload B', 'server us', 'client us', 'wire B', 'delivered/s', 'p50 ms', 'p99 ms', 'undelivered'],
      rows,
      { markdown: true, left: [0, 1] },
    ) + '\n\n',
  );

  const verdicts: { kind: Kind; cpu: number; client: number; saved: number; payload: number }[] = [];
  for (const mode of MODES.filter((m) => m !== 'off'))
    for (const kind of STEP_KINDS) {
      const off = totals(kind, 'off');
      const on = totals(kind, mode);
      if (!off.n || !on.n) {
        process.stdout.write(`${kind}: not measured in both modes\n`);
        continue;
      }
      const cpu = on.server / off.server;
      const client = on.client / off.client;
      const saved = Math.round(100 * (1 - on.wire / off.wire)) || 0;
      const payload = median(steps.filter((s) => s.kind === kind).map((s) => s.payloadBytes));
      const usPerKbSaved = (on.server - off.server) / ((off.wire - on.wire) / 1024);
      if (mode === VERDICT_MODE) verdicts.push({ kind, cpu, client, saved, payload });
      process.stdout.write(
        `${kind} (${fmt.kb(payload)}): deflate${mode === 'nct' ? ' (no context takeover)' : ''} costs ${fmt.x(cpu)} the server CPU per delivered message ` +
          `(${fmt.n(on.server, 1)} vs ${fmt.n(off.server, 1)} us) and ${fmt.x(client)} the client's ` +
          `(${fmt.n(on.client, 1)} vs ${fmt.n(off.client, 1)} us), and saves ${fmt.pct(saved)} of bytes ` +
          `(${fmt.n(on.wire)} vs ${fmt.n(off.wire)} B)` +
          (saved > 1 ? `: ${fmt.n(usPerKbSaved, 1)} us of server CPU per KB saved` : '') +
          `; delivered/s on ${on.perSecond.map((v) => fmt.n(v)).join('/')} vs off ${off.perSecond.map((v) => fmt.n(v)).join('/')}, ` +
          `p99 on ${on.p99.map((v) => fmt.n(v, 1)).join('/')} vs off ${off.p99.map((v) => fmt.n(v, 1)).join('/')} ms` +
          (on.undelivered || off.undelivered ? `; undelivered on ${fmt.n(on.undelivered)}, off ${fmt.n(off.undelivered)}` : '') +
          '\n',
      );
    }
  // The recommendation is about `on` (the setting the issue names). Deflate pays for itself only if, on the events it compresses (those that save bytes), the
  // server pays at most MAX_CPU_RATIO of the CPU it pays without.
  const compressed = verdicts.filter((v) => v.saved > 5);
  if (!compressed.length) {
    process.stdout.write('\nRecommendation: keep off: deflate saved no bytes on these payloads\n');
    return;
  }
  const costly = compressed.filter((v) => v.cpu > MAX_CPU_RATIO);
  const range = (xs: number[], f: (v: number) => string) =>
    Math.min(...xs) === Math.max(...xs) ? f(xs[0]) : `${f(Math.min(...xs))}-${f(Math.max(...xs))}`;
  const smallest = Math.min(...compressed.map((v) => v.payload));
  const what = `${range(
    compressed.map((v) => v.cpu),
    fmt.x,
  )} server CPU per delivered message (clients ${range(
    compressed.map((v) => v.client),
    fmt.x,
  )}) for ${range(
    compressed.map((v) => v.saved),
    fmt.pct,
  )} fewer bytes, ${
    smallest < 1024
      ? `on every kind measured, the ${fmt.kb(smallest)} one too (the 1 KB threshold does not apply under context takeover)`
      : `only on events of ${fmt.kb(smallest)} and more`
  } (${compressed.map((v) => v.kind).join(', ')})`;
  process.stdout.write(
    costly.length
      ? `\nRecommendation: keep off: the server pays ${what}; over the ${MAX_CPU_RATIO}x this bench allows, on ${costly.map((v) => v.kind).join(', ')}\n`
      : `\nRecommendation: deflate pays for itself here: the server pays ${what}, within ${MAX_CPU_RATIO}x\n`,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const started = Date.now();
  log(
    `${CLIENTS} clients in one room; ${RATE} events/s for ${SECONDS} s per kind (${STEP_KINDS.join(', ')}); ` +
      `${ROUNDS} round(s) of ${MODES.join(', ')}, alternated; on = perMessageDeflate { threshold: 1024 }, ws zlib defaults` +
      (MODES.includes('nct') ? '; nct = the same without context takeover' : ''),
  );
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Mode[] = round % 2 ? MODES : [...MODES].reverse();
    for (const mode of order) await runMode(mode, round);
  }
  report();
  log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

const cleanOnce = cleanUpOnSignals(stopAll);
main().then(
  () => cleanOnce(),
  async (err: Error) => {
    process.stderr.write(`socket-deflate failed: ${err.stack ?? err.message}\n`);
    await cleanOnce();
    process.exitCode = 1;
  },
);
