// Baseline for bench/sync/run.ts: a bare node:http server that serves the same keyset pages as
// JSON, with pg and nothing else (no auth, no validation, no framework). Run in its own process,
// as Tether is. Prints its port once listening.
// It compresses its JSON the way Tether's `compression` middleware does by default (compression
// 1.8: bodies of 1 KB and more, br preferred over gzip on a tie, brotli at
// quality 4 and gzip at zlib's default level, 6; `Vary: Accept-Encoding`), on the threadpool as
// the middleware's zlib stream does, but whole, with a Content-Length instead of chunks.
import { createServer } from 'node:http';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { Pool } from 'pg';
import { RAW_PAGE_SQL, NIL_ID } from './queries';

const url = process.env.BENCH_DATABASE_URL!;
const tenant = process.env.BENCH_TENANT!;
const pool = new Pool({ connectionString: url, max: 10 });
/** COMPRESSION_MIN_BYTES in src/app.setup.ts (not imported: that would load the framework here). */
const COMPRESSION_MIN_BYTES = 1024;

const encoders: Record<string, (body: Buffer) => Promise<Buffer>> = {
  br: (body) => promisify(brotliCompress)(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }),
  gzip: (body) => promisify(gzip)(body, { level: 6 }),
};

/** br or gzip, whichever the client gives the higher q (br on a tie, `*` standing for both), else identity. */
function negotiate(acceptEncoding: string | undefined): 'br' | 'gzip' | 'identity' {
  const q = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (name) q.set(name, qParam ? Number(qParam.slice(2)) : 1);
  }
  const of = (name: string) => q.get(name) ?? q.get('*') ?? 0;
  const best = (['br', 'gzip'] as const).reduce((a, b) => (of(b) > of(a) ? b : a));
  return of(best) > 0 ? best : 'identity';
}

const server = createServer((req, res) => {
  const params = new URL(req.url ?? '/', 'http://bench').searchParams;
  const limit = Number(params.get('limit') ?? 500);
  const cursor = params.get('cursor');
  const [x, id] = cursor ? (JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string]) : ['0', NIL_ID];
  pool
    .query(RAW_PAGE_SQL, [tenant, x, id, limit + 1])
    .then(async ({ rows }) => {
      const hasMore = rows.length > limit;
      const events = hasMore ? rows.slice(0, limit) : rows;
      const last = events[events.length - 1];
      const nextCursor = last ? Buffer.from(JSON.stringify([last.sync_xid, last.id])).toString('base64url') : cursor;
      let body: Buffer = Buffer.from(JSON.stringify({ events, nextCursor, hasMore }));
      const headers: Record<string, string | number> = { 'Content-Type': 'application/json', Vary: 'Accept-Encoding' };
      const encoding = body.length < COMPRESSION_MIN_BYTES ? 'identity' : negotiate(req.headers['accept-encoding']);
      if (encoding !== 'identity') {
        body = await encoders[encoding](body);
        headers['Content-Encoding'] = encoding;
      }
      res.writeHead(200, { ...headers, 'Content-Length': body.length });
      res.end(body);
    })
    .catch((err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
