/**
 * Redis Cluster: the Socket.IO adapter's cost to the cluster, sharded (SSUBSCRIBE per room) vs classic.
 *
 *   npm run build && npx tsx bench/redis-cluster/run.ts [--clients 400] [--channels 40] [--rate 500]
 *     [--seconds 5] [--rounds 2]
 *
 * A Redis Cluster of our own (three masters, a replica each, on spare ports: startRedisCluster) and,
 * per adapter mode, two Tether pods from dist/ on it (REDIS_TOPOLOGY=cluster). On a cluster a
 * classic PUBLISH is forwarded by the node that receives it to every other node over the cluster
 * bus, so every node (replicas too) pays for every event; a sharded SPUBLISH goes to the master
 * owning the channel's slot and its replica only.
 *
 * Per mode (classic, then sharded; `--rounds` times, so the two alternate): two fresh pods with a
 * key prefix of their own; `--clients` sockets, half on each pod, each subscribed to one of
 * `--channels` public channels `feed:<k>` (HOST_CHANNELS=feed:public; every channel has sockets on
 * both pods); then `--rate` events/s for `--seconds` s, open loop, spread round robin over the
 * channels, through POST /api/mobile/v1/admin/broadcast (SERVICE token; pods alternate), each
 * event logged in its channel's log and emitted through the adapter. Measured per mode:
 * - deliveries per second to the sockets (expected: rate x clients / channels), lost deliveries
 *   (not received 3 s after the step), publish-to-receive latency p50/p99 (from the POST's start
 *   to the socket's event, both clocks this process's);
 * - CPU of each redis-server during the step (utime + stime from /proc/<pid>/stat, read before
 *   the first publish and after the drain; the pid is the one the node gives in INFO server,
 *   `process_id`, checked against /proc), as ms per 1,000 published events summed over the six
 *   nodes, the busiest node's, and net of the same nodes' idle CPU over a quiet window of the step's
 *   length measured just before it (pods and sockets connected, nothing published);
 * - the pub/sub messages the nodes received over the cluster bus (CLUSTER INFO:
 *   cluster_stats_messages_publish_received + publishshard_received) per published event;
 * - the two pods' CPU per 1,000 events (/proc);
 * - the commands the nodes ran per published event (INFO commandstats: calls and Redis's own
 *   command time), to tell the adapter's share from the rest (the channel log's script, the
 *   rate limiter): a PUBLISH forwarded over the bus is no command on the nodes it reaches, only
 *   their CPU shows it.
 * The adapter each pod runs is checked in its /metrics (tether_realtime_adapter_info); sharded
 * runs with REALTIME_ADAPTER_STRICT=true, so it cannot fall back to classic unnoticed.
 * Everything this run creates (a database, the cluster, child processes) is removed at the end,
 * also on failure or Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { io, Socket } from 'socket.io-client';
import { signDevToken } from '../../src/core/auth/dev-token';
import {
  APP_MAIN,
  cpuSeconds,
  createDatabase,
  freePort,
  newWorld,
  quantile,
  runBenchmark,
  sleep,
  spawnApp,
  stopAll,
  stopChild,
  table,
  waitReady,
  type NodeProcess,
  type RedisClusterFixture,
  startRedisCluster,
} from '../../tools/scratch';

const TENANT = 'bench';
const EVENT = 'bench:tick';
const DRAIN_MS = 3000;
const WARM_UP_RATE = 100;
const WARM_UP_SECONDS = 1;

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '400' },
    channels: { type: 'string', default: '40' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
  },
});
const CLIENTS = Number(args.clients);
const CHANNELS = Number(args.channels);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(CHANNELS) || CHANNELS < 1 || CHANNELS > 10_000) throw new Error('--channels must be 1..10000');
if (!Number.isInteger(CLIENTS) || CLIENTS < 2 * CHANNELS || CLIENTS > 20_000)
  throw new Error('--clients must be an integer from 2 x --channels (a socket per channel on each pod) to 20000');
if (!(RATE > 0 && RATE <= 20_000)) throw new Error('--rate must be in (0, 20000]');
if (!(SECONDS > 0 && SECONDS <= 120)) throw new Error('--seconds must be in (0, 120]');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 10) throw new Error('--rounds must be 1..10');

type Mode = 'classic' | 'sharded';

const world = newWorld('bench', 'rcl');
const jwtSecret = randomBytes(24).toString('hex');
const clients: Socket[] = [];
const probes: Redis[] = [];
let cluster: RedisClusterFixture | undefined;
const log = (line: string) => process.stdout.write(`  ${line}\n`);

const memberToken = (sub: string) => signDevToken(jwtSecret, { sub, tid: TENANT, roles: ['MEMBER'] }, 7200);
const channelOf = (k: number) => `feed:${k}`;

// ---- the cluster's nodes ---------------------------------------------------------------------

interface RedisNode {
  port: number;
  pid: number;
  role: string;
  probe: Redis;
}

/** Each node's pid (INFO server's process_id, which must be a redis-server in our /proc) and role. */
async function describeNodes(fixture: RedisClusterFixture): Promise<RedisNode[]> {
  const nodes: RedisNode[] = [];
  for (const { port } of fixture.nodes) {
    const probe = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 3 });
    probes.push(probe);
    const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    const comm = pid ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
    if (!comm.startsWith('redis-server'))
      throw new Error(`node ${port}: pid ${pid} (${comm || 'not found'}) is not a redis-server on this machine`);
    const role = /role:(\w+)/.exec(await probe.info('replication'))?.[1] ?? '?';
    nodes.push({ port, pid, role, probe });
  }
  return nodes;
}

interface NodeSample {
  cpu: number;
  /** Pub/sub messages received over the cluster bus so far (classic and sharded). */
  busPubSub: number;
  /** INFO commandstats: command -> [calls, usec] so far. */
  commands: Map<string, [number, number]>;
}

async function sampleNodes(nodes: RedisNode[]): Promise<NodeSample[]> {
  return Promise.all(
    nodes.map(async (n) => {
      const info = String(await n.probe.call('CLUSTER', 'INFO'));
      const stat = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      const commands = new Map<string, [number, number]>();
      for (const [, name, calls, usec] of (await n.probe.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm))
        commands.set(name, [Number(calls), Number(usec)]);
      return {
        commands,
        cpu: cpuSeconds(n.pid),
        busPubSub: stat('cluster_stats_messages_publish_received') + stat('cluster_stats_messages_publishshard_received'),
      };
    }),
  );
}

// ---- pods and sockets ------------------------------------------------------------------------

interface Pods {
  urls: string[];
  procs: NodeProcess[];
}

async function startPods(mode: Mode, prefix: string, fixture: RedisClusterFixture): Promise<Pods> {
  // On a shared machine someone may be rebuilding dist/ (it is emptied first): wait for it.
  for (let waited = 0; !existsSync(APP_MAIN); waited++) {
    if (waited === 0) log(`${APP_MAIN} is missing (a build running?): waiting for it`);
    if (waited > 300) throw new Error(`${APP_MAIN} is still missing after 5 min: run npm run build`);
    await sleep(1000);
  }
  const pods: Pods = { urls: [], procs: [] };
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const env = {
      NODE_ENV: 'development',
      PORT: String(port),
      LOG_LEVEL: 'silent',
      DATABASE_URL: world.db.url,
      DB_AUTO_MIGRATE: 'false',
      REDIS_TOPOLOGY: 'cluster',
      REDIS_CLUSTER_NODES: fixture.seeds,
      REDIS_URL: `redis://127.0.0.1:${fixture.nodes[0].port}`,
      REDIS_KEY_PREFIX: prefix,
      REALTIME_ADAPTER: mode,
      REALTIME_ADAPTER_STRICT: 'true',
      HOST_CHANNELS: 'feed:public',
      MOBILE_JWT_SECRET: jwtSecret,
      JWT_ALGORITHM: 'HS256',
      REALTIME_CONNECTS_PER_MINUTE_PER_IP: '1000000',
      REALTIME_CONNECTS_PER_MINUTE_PER_USER: '1000000',
      REALTIME_EVENTS_PER_SECOND: '10000',
      RATE_LIMIT_PER_MINUTE: '1000000',
    };
    const proc = spawnApp(env);
    const url = `http://127.0.0.1:${port}`;
    pods.urls.push(url);
    pods.procs.push(proc);
    await waitReady(`${url}/health/ready`, proc);
  }
  // The adapter each pod actually runs.
  for (const url of pods.urls) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    if (!new RegExp(`^tether_realtime_adapter_info\\{mode="${mode}"\\} 1$`, 'm').test(metrics))
      throw new Error(`${url} does not run the ${mode} adapter: ${/^tether_realtime_adapter_info.*$/m.exec(metrics)?.[0] ?? 'no gauge'}`);
  }
  return pods;
}

interface Subscriber {
  socket: Socket;
  channel: number;
}

/**
 * CLIENTS sockets; socket i subscribes to channel i % CHANNELS and connects to pod
 * floor(i / CHANNELS) % 2, so that every channel has sockets on both pods.
 */
async function connectClients(urls: string[], tag: string): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  const indexes = Array.from({ length: CLIENTS }, (_, i) => i);
  for (let from = 0; from < CLIENTS; from += 50) {
    await Promise.all(
      indexes.slice(from, from + 50).map(async (i) => {
        const channel = i % CHANNELS;
        const url = urls[Math.floor(i / CHANNELS) % 2];
        const socket = io(`${url}/realtime`, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          auth: { token: await memberToken(`${tag}-u${i}`) },
        });
        clients.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { channels: [channelOf(channel)] })) as {
          subscribed?: string[];
        };
        if (ack.subscribed?.length !== 1) throw new Error(`subscribe ${channelOf(channel)}: ${JSON.stringify(ack)}`);
        subscribers[i] = { socket, channel };
      }),
    );
  }
  return subscribers;
}

// ---- a step ------------------------------------------------------------------------------------

interface StepResult {
  sent: number;
  failed: number;
  expected: number;
  received: number;
  perSecond: number;
  p50: number;
  p99: number;
  seconds: number;
}

/** Publishes at `rate` for `seconds` (open loop) and waits up to DRAIN_MS for the deliveries. */
async function runStep(
  urls: string[],
  subscribers: Subscriber[],
  serviceToken: string,
  rate: number,
  seconds: number,
): Promise<StepResult> {
  const perChannel = new Array<number>(CHANNELS).fill(0);
  for (const s of subscribers) perChannel[s.channel]++;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let firstReceived = Infinity;
  let lastReceived = 0;
  const onTick = (payload: { id?: string }) => {
    const at = payload?.id === undefined ? undefined : sentAt.get(payload.id);
    if (at === undefined) return; // another step's
    const now = performance.now();
    latencies.push(now - at);
    firstReceived = Math.min(firstReceived, now);
    lastReceived = now;
  };
  for (const { socket } of subscribers) socket.on(EVENT, onTick);

  const step = randomBytes(3).toString('hex');
  const total = Math.round(rate * seconds);
  let sent = 0;
  let failed = 0;
  let expected = 0;
  const requests: Promise<void>[] = [];
  const started = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const channel = sent % CHANNELS;
      const id = `${step}-${sent}`;
      sentAt.set(id, performance.now());
      expected += perChannel[channel];
      requests.push(
        fetch(`${urls[sent % 2]}/api/mobile/v1/admin/broadcast`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${serviceToken}` },
          body: JSON.stringify({ channel: channelOf(channel), event: EVENT, data: { id } }),
        }).then(
          async (res) => {
            await res.arrayBuffer();
            if (res.status !== 202) {
              failed++;
              expected -= perChannel[channel];
            }
          },
          () => {
            failed++;
            expected -= perChannel[channel];
          },
        ),
      );
    }
    await sleep(2);
  }
  await Promise.all(requests);
  const deadline = performance.now() + DRAIN_MS;
  while (latencies.length < expected && performance.now() < deadline) await sleep(20);
  for (const { socket } of subscribers) socket.off(EVENT, onTick);
  const window = Math.max((lastReceived - Math.min(firstReceived, started)) / 1000, seconds);
  return {
    sent: total,
    failed,
    expected,
    received: latencies.length,
    perSecond: latencies.length / window,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    seconds: (performance.now() - started) / 1000,
  };
}

// ---- a mode ------------------------------------------------------------------------------------

interface ModeResult {
  mode: Mode;
  round: number;
  step: StepResult;
  /** Redis CPU during the step, ms per 1,000 published events: summed over the nodes, per node. */
  redisPerK: number;
  redisPerKByNode: number[];
  /** The same net of each node's idle CPU over a quiet window just before. */
  redisNetPerK: number;
  /** Idle Redis CPU, ms per second, summed over the nodes. */
  redisIdlePerS: number;
  busPerEvent: number;
  podPerK: number;
  /** Commands the nodes ran during the step (probes' INFO aside), per published event: name, calls, usec. */
  commandsPerEvent: [string, number, number][];
}

async function runMode(mode: Mode, round: number, fixture: RedisClusterFixture, nodes: RedisNode[]): Promise<ModeResult> {
  const prefix = `${world.redisPrefix}-${mode}${round}`;
  const pods = await startPods(mode, prefix, fixture);
  const subscribers = await connectClients(pods.urls, `${mode}${round}`);
  const serviceToken = await signDevToken(jwtSecret, { sub: 'bench-service', tid: TENANT, roles: ['SERVICE'] }, 7200);
  // JIT, HTTP keep-alive connections and the adapters' subscriptions warm before measuring.
  const warm = await runStep(pods.urls, subscribers, serviceToken, WARM_UP_RATE, WARM_UP_SECONDS);
  if (warm.received < warm.expected) log(`${mode}: warm-up delivered ${warm.received} of ${warm.expected}`);
  await sleep(1000);

  // A quiet window as long as the step: what the nodes spend with nothing published.
  const idleStart = await sampleNodes(nodes);
  const idleT0 = performance.now();
  await sleep(SECONDS * 1000);
  const idleEnd = await sampleNodes(nodes);
  const idleSeconds = (performance.now() - idleT0) / 1000;

  const before = await sampleNodes(nodes);
  const podBefore = pods.procs.map((p) => cpuSeconds(p.pid));
  const step = await runStep(pods.urls, subscribers, serviceToken, RATE, SECONDS);
  const after = await sampleNodes(nodes);
  const podAfter = pods.procs.map((p) => cpuSeconds(p.pid));

  for (const s of subscribers) s.socket.close();
  await Promise.all(pods.procs.map((p) => stopChild(p.child)));

  const published = step.sent - step.failed;
  const perK = (seconds: number) => (seconds * 1000 * 1000) / Math.max(1, published);
  const byNode = nodes.map((_, i) => after[i].cpu - before[i].cpu);
  const idleByNode = nodes.map((_, i) => (idleEnd[i].cpu - idleStart[i].cpu) / idleSeconds);
  const net = byNode.reduce((sum, cpu, i) => sum + Math.max(0, cpu - idleByNode[i] * step.seconds), 0);
  const bus = nodes.reduce((sum, _, i) => sum + after[i].busPubSub - before[i].busPubSub, 0);
  const commands = new Map<string, [number, number]>();
  nodes.forEach((_, i) => {
    for (const [name, [calls, usec]] of after[i].commands) {
      if (name === 'info' || name === 'cluster|info') continue;
      const [c0, u0] = before[i].commands.get(name) ?? [0, 0];
      const [c, u] = commands.get(name) ?? [0, 0];
      commands.set(name, [c + calls - c0, u + usec - u0]);
    }
  });
  return {
    mode,
    round,
    step,
    redisPerK: perK(byNode.reduce((a, b) => a + b, 0)),
    redisPerKByNode: byNode.map(perK),
    redisNetPerK: perK(net),
    redisIdlePerS: idleByNode.reduce((a, b) => a + b, 0) * 1000,
    busPerEvent: bus / Math.max(1, published),
    podPerK: perK(podAfter.reduce((sum, cpu, i) => sum + cpu - podBefore[i], 0)),
    commandsPerEvent: [...commands]
      .filter(([, [calls]]) => calls > 0)
      .map(([name, [calls, usec]]): [string, number, number] => [name, calls / Math.max(1, published), usec / Math.max(1, published)])
      .sort((a, b) => b[2] - a[2]),
  };
}

// ---- report ------------------------------------------------------------------------------------

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-');

function modeTable(results: ModeResult[], nodes: RedisNode[]): string {
  const rows = results.map((r) => {
    const s = r.step;
    const max = Math.max(...r.redisPerKByNode);
    return [
      `${r.mode} #${r.round}`,
      String(s.sent - s.failed),
      f1(s.perSecond),
      f1(s.expected / SECONDS),
      String(s.expected - s.received),
      f1(s.p50),
      f1(s.p99),
      f1(r.redisPerK),
      f1(max),
      `${nodes[r.redisPerKByNode.indexOf(max)].role} :${nodes[r.redisPerKByNode.indexOf(max)].port}`,
      f1(r.redisNetPerK),
      f1(r.redisIdlePerS),
      r.busPerEvent.toFixed(2),
      f1(r.podPerK),
    ];
  });
  const header = [
    'mode',
    'published',
    'delivered/s',
    'expected/s',
    'lost',
    'p50 ms',
    'p99 ms',
    'Redis ms/1k',
    'max node',
    'which',
    'net ms/1k',
    'idle ms/s',
    'bus msg/event',
    'pods ms/1k',
  ];
  return table(header, rows, { left: [0, 9] });
}

function perNodeTable(results: ModeResult[], nodes: RedisNode[]): string {
  const header = ['node', 'role', ...results.map((r) => `${r.mode} #${r.round}`)];
  const rows = nodes.map((n, i) => [String(n.port), n.role, ...results.map((r) => f1(r.redisPerKByNode[i]))]);
  return table(header, rows, { left: [1] });
}

function compare(classic: ModeResult[], sharded: ModeResult[]): string {
  const mean = (rs: ModeResult[], pick: (r: ModeResult) => number) => rs.reduce((s, r) => s + pick(r), 0) / rs.length;
  const c = (pick: (r: ModeResult) => number) => mean(classic, pick);
  const s = (pick: (r: ModeResult) => number) => mean(sharded, pick);
  return (
    `classic vs sharded (means over ${classic.length} + ${sharded.length} steps): Redis CPU per event ` +
    `${ratio(
      c((r) => r.redisPerK),
      s((r) => r.redisPerK),
    )} (${f1(c((r) => r.redisPerK))} vs ${f1(s((r) => r.redisPerK))} ms/1k; ` +
    `net of idle ${ratio(
      c((r) => r.redisNetPerK),
      s((r) => r.redisNetPerK),
    )}), busiest node ` +
    `${ratio(
      c((r) => Math.max(...r.redisPerKByNode)),
      s((r) => Math.max(...r.redisPerKByNode)),
    )}, ` +
    `bus messages per event ${c((r) => r.busPerEvent).toFixed(2)} vs ${s((r) => r.busPerEvent).toFixed(2)}; ` +
    `delivered ${ratio(
      c((r) => r.step.perSecond),
      s((r) => r.step.perSecond),
    )}, ` +
    `p50 ${ratio(
      c((r) => r.step.p50),
      s((r) => r.step.p50),
    )}, p99 ${ratio(
      c((r) => r.step.p99),
      s((r) => r.step.p99),
    )}, ` +
    `pods' CPU per event ${ratio(
      c((r) => r.podPerK),
      s((r) => r.podPerK),
    )}`
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `redis-cluster: ${CLIENTS} clients on ${CHANNELS} channels over two pods, ${RATE} events/s x ${SECONDS} s per mode, ` +
      `${ROUNDS} round(s) of classic then sharded; db ${world.db.name}, redis prefix ${world.redisPrefix}\n`,
  );
  await createDatabase(world.db, { migrate: true });
  log('starting a Redis Cluster (3 masters + 3 replicas)');
  cluster = await startRedisCluster();
  const nodes = await describeNodes(cluster);
  log(`nodes: ${nodes.map((n) => `:${n.port} ${n.role} pid ${n.pid}`).join(', ')}`);

  const results: ModeResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of ['classic', 'sharded'] as const) {
      const r = await runMode(mode, round, cluster, nodes);
      results.push(r);
      const s = r.step;
      log(
        `${mode} #${round}: ${f1(s.perSecond)} deliveries/s of ${f1(s.expected / SECONDS)} expected, lost ${s.expected - s.received}, ` +
          `failed publishes ${s.failed}, p50 ${f1(s.p50)} ms p99 ${f1(s.p99)} ms; Redis ${f1(r.redisPerK)} ms/1k events ` +
          `(max node ${f1(Math.max(...r.redisPerKByNode))}, net ${f1(r.redisNetPerK)}), bus ${r.busPerEvent.toFixed(2)} msg/event`,
      );
      log(
        `  commands per event, all nodes (calls, us of command time): ` +
          r.commandsPerEvent
            .slice(0, 8)
            .map(([name, calls, usec]) => `${name} ${calls.toFixed(2)} ${usec.toFixed(1)}`)
            .join(', '),
      );
    }
  }

  const classic = results.filter((r) => r.mode === 'classic');
  const sharded = results.filter((r) => r.mode === 'sharded');
  const lines = [
    '',
    modeTable(results, nodes),
    '',
    'Redis CPU per node, ms per 1,000 published events:',
    perNodeTable(results, nodes),
    '',
    ...Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}: ${compare([classic[i]], [sharded[i]])}`),
    ...(ROUNDS > 1 ? [compare(classic, sharded)] : []),
    `(took ${((Date.now() - started) / 1000).toFixed(0)} s)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

runBenchmark('redis-cluster bench', world, main, async () => {
  for (const c of clients) c.close();
  for (const p of probes) p.disconnect();
  // The pods first: they would otherwise spend their last seconds reconnecting to a dead cluster.
  await stopAll();
  await cluster?.destroy();
});
