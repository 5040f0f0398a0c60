/**
 * The baseline: bare Socket.IO (the app's version, 4.8.x) on node:http, namespace /realtime, whose
 * middleware verifies the same HS256 JWT as Tether with `jose` (a KeyObject, `algorithms:
 * ['HS256']`, as TokenVerifier does); each socket then joins a room named by its user. Nothing
 * else: no Redis, no presence, no limiter, no session event. Engine.IO timings as Tether's
 * (pingInterval 25 s, pingTimeout 20 s), so both send the same pings to idle sockets.
 *
 * Env: PORT, JWT_SECRET. HTTP: GET /ready; GET /lag (event-loop delay since the last call,
 * perf_hooks monitorEventLoopDelay at 10 ms resolution like prom-client's in Tether, then reset);
 * GET /stats (sockets in the namespace).
 */
import { createSecretKey } from 'node:crypto';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
const key = createSecretKey(Buffer.from(process.env.JWT_SECRET!, 'utf8'));
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

const http = createServer((req, res) => {
  if (req.url === '/ready') return void res.writeHead(200).end('ok');
  if (req.url === '/lag') {
    const body = { p99: lag.percentile(99) / 1e9, mean: lag.mean / 1e9, max: lag.max / 1e9 };
    lag.reset();
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
  if (req.url === '/stats')
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sockets: nsp.sockets.size }));
  res.writeHead(404).end();
});
const io = new Server(http, { pingInterval: 25_000, pingTimeout: 20_000 });
const nsp = io.of('/realtime');

nsp.use((socket, next) => {
  const token: unknown = socket.handshake.auth?.token;
  if (typeof token !== 'string') return next(new Error('token_missing'));
  jwtVerify(token, key, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      socket.data = { userId: payload.sub, tenantId: payload.tid };
      next();
    },
    () => next(new Error('token_invalid')),
  );
});

nsp.on('connection', (socket) => {
  const { tenantId, userId } = socket.data as { userId: string; tenantId: string };
  void socket.join(`user:${tenantId}:${userId}`);
});

http.listen(port, '127.0.0.1');

process.once('SIGTERM', () => {
  io.close();
  process.exit(0);
});
