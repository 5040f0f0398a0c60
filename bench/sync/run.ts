// Sync benchmark: HTTP delta sync through Tether vs the raw keyset query and a bare node:http server.
//   npm run build && npx tsx bench/sync/run.ts [--events 1000000] [--tenants 100] [--per-tenant 2000]
//     [--reps 3] [--bulk-runs 15] [--encoding br|gzip|identity]
// Creates (and drops) its own database and Redis prefix; starts Tether from dist/ as a pod runs it.
// --encoding (default br): the Accept-Encoding every HTTP request of the run sends. Sync pages are
// fetched with node:http and decoded with zlib, as a phone's HTTP client does, so the body bytes
// that came over the wire can be counted: bytes per synced row compressed (the body as sent) and
// without (the decoded JSON, which is what `identity` sends), for Tether and for the bare server,
// which compresses the same way (bare-server.ts). Goals: Tether >= 0.90x bare rows/s, and with br
// or gzip at most a fifth of identity's bytes per row; run `identity` too for its rows/s.
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { Client } from 'pg';
import { signDevToken } from '../../src/core/auth/dev-token';
import {
  createDatabase,
  fmt,
  freePort,
  median,
  newWorld,
  quantile,
  runBenchmark,
  spawnApp,
  spawnNode,
  table,
  waitForOutput,
} from '../../tools/scratch';
import { LOAD_EVENTS_SQL, NIL_ID, RAW_PAGE_SQL } from './queries';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '100' },
    'per-tenant': { type: 'string', default: '2000' },
    reps: { type: 'string', default: '3' },
    'bulk-runs': { type: 'string', default: '15' },
    encoding: { type: 'string', default: 'br' },
  },
});
const EVENTS = Number(args.events);
const OTHER_TENANTS = Number(args.tenants);
const PER_TENANT = Number(args['per-tenant']);
const REPS = Number(args.reps);
const BULK_RUNS = Number(args['bulk-runs']);
const ENCODING = args.encoding!;
if (!['br', 'gzip', 'identity'].includes(ENCODING)) throw new Error(`--encoding br|gzip|identity, not ${ENCODING}`);
const PAGE = 500;
const TENANT = 'bench';

const world = newWorld('bench', 'sync');
const dbUrl = world.db.url;
const secret = randomBytes(24).toString('hex');

const log = (line: string) => process.stderr.write(`${line}\n`);
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function load(): Promise<void> {
  await createDatabase(world.db, { migrate: true });
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const t0 = now();
    // Bulk load: the trigger would stamp the same values one row at a time; LOAD_EVENTS_SQL sets them.
    await c.query(`ALTER TABLE community_events DISABLE TRIGGER community_events_sync`);
    const batches = 20;
    const per = Math.ceil(EVENTS / batches);
    let otherTenant = 0;
    for (let b = 0; b < batches; b++) {
      // One transaction per batch (distinct xids), with other tenants' writes in between.
      await c.query(LOAD_EVENTS_SQL, [TENANT, b * per + 1, Math.min(EVENTS, (b + 1) * per)]);
      for (; otherTenant < Math.ceil(((b + 1) * OTHER_TENANTS) / batches); otherTenant++)
        await c.query(LOAD_EVENTS_SQL, [`other-${otherTenant}`, 1, PER_TENANT]);
    }
    await c.query(`ALTER TABLE community_events ENABLE TRIGGER community_events_sync`);
    // 500 members for the bulk check-in runs, and the member who syncs.
    await c.query(
      `INSERT INTO community_members (id, tenant_id, user_id, display_name, roles)
       SELECT gen_random_uuid(), $1, 'bench-m' || g, 'Member ' || g, ARRAY['MEMBER'] FROM generate_series(0, 499) g`,
      [TENANT],
    );
    await c.query(`VACUUM ANALYZE community_events`);
    await c.query(`VACUUM ANALYZE community_members`);
    const { rows } = await c.query(`SELECT count(*)::int AS n, count(DISTINCT tenant_id)::int AS tenants FROM community_events`);
    log(`loaded ${rows[0].n} events in ${rows[0].tenants} tenants in ${((now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await c.end();
  }
}

/** Tether from dist/, as a pod runs it; ready once it logs that it listens. */
async function startTether(): Promise<string> {
  const port = await freePort();
  const proc = spawnApp(
    {
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: dbUrl,
      REDIS_URL: world.redisUrl,
      REDIS_KEY_PREFIX: world.redisPrefix,
      MOBILE_JWT_SECRET: secret,
      LOG_LEVEL: 'info',
      SYNC_READS_PER_MINUTE: '1000000',
      SYNC_BULK_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_MINUTE: '1000000',
    },
    // BENCH_SERVER_NODE_ARGS adds node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    { nodeArgs: process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) },
  );
  await waitForOutput(proc, /listening on/);
  return `http://127.0.0.1:${port}`;
}

/** The bare node:http server; it prints the port it listens on. */
async function startBare(): Promise<string> {
  const proc = spawnNode(join(__dirname, 'bare-server.ts'), { BENCH_DATABASE_URL: dbUrl, BENCH_TENANT: TENANT }, { tsx: true });
  const [, port] = await waitForOutput(proc, /port (\d+)/);
  return `http://127.0.0.1:${port}`;
}

interface Pass {
  rows: number;
  ms: number;
  deepCursor?: string;
}

interface HttpPass extends Pass {
  /** Body bytes as they came over the wire (compressed if the server compressed). */
  wire: number;
  /** The same bodies decoded: what the server sends with identity. */
  bytes: number;
  /** Bytes read from the socket, status lines, headers and chunk framing included. */
  socket: number;
  /** Pages per Content-Encoding. */
  encodings: Map<string, number>;
}

const keepAlive = new Agent({ keepAlive: true });
const decoders: Record<string, (wire: Buffer) => Promise<Buffer>> = {
  br: promisify(brotliDecompress),
  gzip: promisify(gunzip),
  identity: async (wire) => wire,
};

/** One GET with the run's Accept-Encoding over a kept-alive connection; the body decoded with zlib. */
function getJson<T>(
  url: string,
  headers: Record<string, string>,
): Promise<{ body: T; wire: number; bytes: number; socket: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    let socketBefore = 0;
    const req = request(url, { agent: keepAlive, headers: { ...headers, 'Accept-Encoding': ENCODING } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const wire = Buffer.concat(chunks);
        const read = (socket?.bytesRead ?? NaN) - socketBefore;
        const encoding = String(res.headers['content-encoding'] ?? 'identity');
        const decode = decoders[encoding];
        if (!decode) return reject(new Error(`${url}: Content-Encoding ${encoding}`));
        decode(wire)
          .then((raw) => {
            if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${raw.toString()}`);
            return { body: JSON.parse(raw.toString()) as T, wire: wire.length, bytes: raw.length, socket: read, encoding };
          })
          .then(resolve, reject);
      });
    });
    req.on('socket', (s) => {
      socket = s;
      socketBefore = s.bytesRead;
    });
    req.on('error', reject);
    req.end();
  });
}

/** The whole feed through the raw keyset query (pg, rows as objects): the database's own ceiling. */
async function rawPass(c: Client, deepAt = Infinity): Promise<Pass & { deepKey?: [string, string] }> {
  let x = '0';
  let id = NIL_ID;
  let rows = 0;
  let deepKey: [string, string] | undefined;
  const t0 = now();
  for (;;) {
    const res = await c.query(RAW_PAGE_SQL, [TENANT, x, id, PAGE + 1]);
    const page = res.rows.slice(0, PAGE);
    rows += page.length;
    const last = page[page.length - 1];
    x = last.sync_xid;
    id = last.id;
    if (!deepKey && rows >= deepAt) deepKey = [x, id];
    if (res.rows.length <= PAGE) break;
  }
  return { rows, ms: now() - t0, deepKey };
}

/** The whole feed over HTTP, following nextCursor, with the same client for both servers. */
async function httpPass(base: string, path: string, headers: Record<string, string>, deepAt = Infinity): Promise<HttpPass> {
  let cursor: string | undefined;
  let deepCursor: string | undefined;
  const pass = { rows: 0, wire: 0, bytes: 0, socket: 0, encodings: new Map<string, number>() };
  const t0 = now();
  for (;;) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) q.set('cursor', cursor);
    const res = await getJson<{ events: unknown[]; nextCursor: string; hasMore: boolean }>(`${base}${path}?${q}`, headers);
    const body = res.body;
    pass.rows += body.events.length;
    pass.wire += res.wire;
    pass.bytes += res.bytes;
    pass.socket += res.socket;
    pass.encodings.set(res.encoding, (pass.encodings.get(res.encoding) ?? 0) + 1);
    cursor = body.nextCursor;
    if (!deepCursor && pass.rows >= deepAt) deepCursor = cursor;
    if (!body.hasMore) break;
  }
  return { ...pass, ms: now() - t0, deepCursor };
}

async function timeHttpPage(
  base: string,
  path: string,
  headers: Record<string, string>,
  cursor: string | undefined,
  n: number,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) q.set('cursor', cursor);
    const t0 = now();
    const { body } = await getJson<{ events: unknown[] }>(`${base}${path}?${q}`, headers);
    times.push(now() - t0);
    if (body.events.length !== PAGE) throw new Error(`expected a full page, got ${body.events.length}`);
  }
  return median(times);
}

async function timeRawPage(c: Client, key: [string, string], n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await c.query(RAW_PAGE_SQL, [TENANT, key[0], key[1], PAGE + 1]);
    times.push(now() - t0);
  }
  return median(times);
}

// The database's own ceiling, queried in this process.
const raw = new Client({ connectionString: dbUrl });

async function main() {
  log(`database ${world.db.name}, Redis prefix ${world.redisPrefix}`);
  await load();
  await raw.connect();
  const tetherUrl = await startTether();
  const bareUrl = await startBare();
  const member = { Authorization: `Bearer ${await signDevToken(secret, { sub: 'bench-reader', tid: TENANT, roles: ['MEMBER'] })}` };
  const api = `${tetherUrl}/api/mobile/v1`;

  // Warm-up: caches, JIT, connection pools, the reader's member row.
  await rawPass(raw);
  await httpPass(bareUrl, '/sync/events', {});
  await httpPass(api, '/sync/events', member);

  const deepAt = Math.floor(EVENTS * 0.9);
  const results = { raw: [] as number[], bare: [] as number[], tether: [] as number[] };
  let deep: { raw?: [string, string]; bare?: string; tether?: string } = {};
  let lastPass: { bare?: HttpPass; tether?: HttpPass } = {};
  for (let rep = 0; rep < REPS; rep++) {
    const r = await rawPass(raw, deepAt);
    const b = await httpPass(bareUrl, '/sync/events', {}, deepAt);
    const t = await httpPass(api, '/sync/events', member, deepAt);
    for (const p of [r, b, t]) if (p.rows !== EVENTS) throw new Error(`a pass saw ${p.rows} rows, expected ${EVENTS}`);
    results.raw.push((r.rows / r.ms) * 1000);
    results.bare.push((b.rows / b.ms) * 1000);
    results.tether.push((t.rows / t.ms) * 1000);
    deep = { raw: r.deepKey, bare: b.deepCursor, tether: t.deepCursor };
    lastPass = { bare: b, tether: t };
    log(
      `rep ${rep + 1}: raw ${results.raw[rep].toFixed(0)}, bare ${results.bare[rep].toFixed(0)}, tether ${results.tether[rep].toFixed(0)} rows/s`,
    );
  }

  // One page: the first (no cursor), the second (a cursor near the start), one deep in the feed.
  const N = 40;
  const second = (await getJson<{ nextCursor: string }>(`${api}/sync/events?limit=${PAGE}`, member)).body.nextCursor;
  const tFirst = await timeHttpPage(api, '/sync/events', member, undefined, N);
  const tSecond = await timeHttpPage(api, '/sync/events', member, second, N);
  const tDeep = await timeHttpPage(api, '/sync/events', member, deep.tether, N);
  const bFirst = await timeHttpPage(bareUrl, '/sync/events', {}, undefined, N);
  const bDeep = await timeHttpPage(bareUrl, '/sync/events', {}, deep.bare, N);
  const rFirst = await timeRawPage(raw, ['0', NIL_ID], N);
  const rDeep = await timeRawPage(raw, deep.raw!, N);

  // Bulk check-in: a leader's kiosk sends 500 check-ins (500 members) for a new service each run.
  const leader = {
    Authorization: `Bearer ${await signDevToken(secret, { sub: 'bench-leader', tid: TENANT, roles: ['LEADER'] })}`,
    'Content-Type': 'application/json',
    'Accept-Encoding': ENCODING, // fetch decodes br and gzip itself
  };
  const bulk: number[] = [];
  const replays: number[] = [];
  for (let run = 0; run < BULK_RUNS + 2; run++) {
    const serviceId = randomUUID();
    await raw.query(
      `INSERT INTO community_services (id, tenant_id, name, starts_at, ends_at, created_by) VALUES ($1, $2, $3, now(), now() + interval '2 hours', 'bench')`,
      [serviceId, TENANT, `Service ${run}`],
    );
    const checkinTime = new Date(Date.now() - 60_000).toISOString();
    const body = JSON.stringify({
      checkins: Array.from({ length: 500 }, (_, i) => ({ offlineId: `${serviceId}-${i}`, serviceId, userId: `bench-m${i}`, checkinTime })),
      conflictResolution: 'last-write-wins',
    });
    const post = async () => {
      const t0 = now();
      const res = await fetch(`${api}/sync/checkins/bulk`, { method: 'POST', headers: leader, body });
      const json = (await res.json()) as { results: { status: string }[] };
      return { ms: now() - t0, statuses: new Set(json.results.map((r) => r.status)), n: json.results.length };
    };
    const first = await post();
    if (first.n !== 500 || first.statuses.size !== 1 || !first.statuses.has('created'))
      throw new Error(`bulk run ${run}: ${[...first.statuses]}`);
    const again = await post();
    if (!again.statuses.has('duplicate') || again.statuses.size !== 1) throw new Error(`replay ${run}: ${[...again.statuses]}`);
    if (run >= 2) {
      bulk.push(first.ms);
      replays.push(again.ms);
    }
  }

  const rawRate = median(results.raw);
  const bareRate = median(results.bare);
  const tetherRate = median(results.tether);
  const f = fmt.n;
  const ratio = tetherRate / bareRate;
  const perRow = (p: HttpPass | undefined, n: 'wire' | 'bytes' | 'socket') => (p ? p[n] / p.rows : NaN);
  const tWire = perRow(lastPass.tether, 'wire');
  const tIdentity = perRow(lastPass.tether, 'bytes');
  const bytesRow = (who: string, p: HttpPass | undefined) => [
    `bytes per row, ${who} (body: ${ENCODING} / identity)`,
    `${perRow(p, 'wire').toFixed(1)} / ${perRow(p, 'bytes').toFixed(1)} B`,
    `${(perRow(p, 'wire') / perRow(p, 'bytes')).toFixed(3)} x identity; ${perRow(p, 'socket').toFixed(1)} B with headers`,
  ];
  const encodings = (p: HttpPass | undefined) => [...(p?.encodings ?? [])].map(([e, n]) => `${n} ${e}`).join(', ');
  const rows = [
    ['full initial sync, raw keyset query (pg, in process)', `${f(rawRate)} rows/s`, ''],
    [`full initial sync, bare node:http + JSON (${ENCODING})`, `${f(bareRate)} rows/s`, 'baseline'],
    [`full initial sync, Tether GET /sync/events (${ENCODING})`, `${f(tetherRate)} rows/s`, `${ratio.toFixed(2)} x bare (goal >= 0.90)`],
    ['Tether vs raw query', '', `${(tetherRate / rawRate).toFixed(2)} x raw`],
    ['Tether page 1 (no cursor), median', `${tFirst.toFixed(2)} ms`, ''],
    ['Tether page 2 (cursor), median', `${tSecond.toFixed(2)} ms`, ''],
    [
      `Tether page at row ${f(deepAt)}, median`,
      `${tDeep.toFixed(2)} ms`,
      `${(tDeep / tFirst).toFixed(2)} x page 1, ${(tDeep / tSecond).toFixed(2)} x page 2 (goal <= 1.5)`,
    ],
    ['bare page 1 / deep, median', `${bFirst.toFixed(2)} / ${bDeep.toFixed(2)} ms`, `${(bDeep / bFirst).toFixed(2)} x`],
    ['raw query page 1 / deep, median', `${rFirst.toFixed(2)} / ${rDeep.toFixed(2)} ms`, `${(rDeep / rFirst).toFixed(2)} x`],
    [
      `bulk check-in, 500 new items, median of ${bulk.length}`,
      `${bulk.length ? median(bulk).toFixed(1) : '-'} ms`,
      `p90 ${quantile(bulk, 0.9).toFixed(1)} ms (goal median < 150)`,
    ],
    ['bulk check-in replayed (500 duplicates), median', `${median(replays).toFixed(1)} ms`, ''],
    bytesRow('Tether', lastPass.tether),
    bytesRow('bare', lastPass.bare),
  ];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out('');
  out(
    `sync benchmark: ${f(EVENTS)} events in one tenant (+ ${OTHER_TENANTS} tenants x ${f(PER_TENANT)}), pages of ${PAGE}, median of ${REPS} passes, Accept-Encoding: ${ENCODING}`,
  );
  out(table(['measure', 'figure', 'ratio'], rows, { left: [0, 2] }));
  out(
    `passes (rows/s): raw ${results.raw.map((x) => f(x)).join(', ')}; bare ${results.bare.map((x) => f(x)).join(', ')}; tether ${results.tether.map((x) => f(x)).join(', ')}`,
  );
  out(`pages per Content-Encoding (last pass): bare ${encodings(lastPass.bare)}; tether ${encodings(lastPass.tether)}`);
  out(`goal: Tether >= 0.90x bare rows/s with ${ENCODING}: ${ratio.toFixed(2)}x ${ratio >= 0.9 ? 'PASS' : 'FAIL'}`);
  out(
    ENCODING === 'identity'
      ? `goal: Tether bytes per row compressed <= 1/5 of identity: not measured with identity (${tIdentity.toFixed(1)} B/row; run --encoding br or gzip)`
      : `goal: Tether bytes per row with ${ENCODING} <= 1/5 of identity: ${tWire.toFixed(1)} vs ${tIdentity.toFixed(1)} B (1/${(tIdentity / tWire).toFixed(1)}) ${tWire * 5 <= tIdentity ? 'PASS' : 'FAIL'}`,
  );
}

runBenchmark('sync bench', world, main, () => {
  keepAlive.destroy();
  return raw.end();
});
