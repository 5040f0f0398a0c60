// Baseline for bench/sync/run.ts: a bare node:http server that serves the same keyset pages as
// JSON, with pg and nothing else (no auth, no validation, no framework). Run in its own process,
// as Tether is. Prints its port once listening.
import { createServer } from 'node:http';
import { Pool } from 'pg';
import { RAW_PAGE_SQL, NIL_ID } from './queries';

const url = process.env.BENCH_DATABASE_URL!;
const tenant = process.env.BENCH_TENANT!;
const pool = new Pool({ connectionString: url, max: 10 });

const server = createServer((req, res) => {
  const params = new URL(req.url ?? '/', 'http://bench').searchParams;
  const limit = Number(params.get('limit') ?? 500);
  const cursor = params.get('cursor');
  const [x, id] = cursor ? (JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string]) : ['0', NIL_ID];
  pool.query(RAW_PAGE_SQL, [tenant, x, id, limit + 1]).then(
    ({ rows }) => {
      const hasMore = rows.length > limit;
      const events = hasMore ? rows.slice(0, limit) : rows;
      const last = events[events.length - 1];
      const nextCursor = last ? Buffer.from(JSON.stringify([last.sync_xid, last.id])).toString('base64url') : cursor;
      const body = JSON.stringify({ events, nextCursor, hasMore });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    },
    (err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    },
  );
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
