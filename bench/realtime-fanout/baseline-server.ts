/**
 * The baseline: bare Socket.IO 4.8.3 on node:http with @socket.io/redis-adapter over ioredis,
 * no Tether code. Two of these run side by side as two "pods". Same namespace (/realtime), same
 * subscribe-with-ack, and publishing costs the same shape as Tether's: an HTTP POST whose
 * handler emits to a room, so both sides pay for an HTTP request per publish.
 *
 * Env: PORT, REDIS_URL, ADAPTER_PREFIX (isolates this run's pub/sub channels), REALTIME_ADAPTER
 * (`classic` = createAdapter, `sharded` = createShardedAdapter with dynamic subscriptions).
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { CHANNEL, EVENT } from './protocol';

const port = Number(process.env.PORT);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.ADAPTER_PREFIX ?? 'bench-baseline';
const mode = process.env.REALTIME_ADAPTER === 'classic' ? 'classic' : 'sharded';

const pub = new Redis(redisUrl, { maxRetriesPerRequest: null });
const sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
const adapter =
  mode === 'sharded'
    ? createShardedAdapter(pub, sub, {
        channelPrefix: prefix,
        subscriptionMode: 'dynamic',
      })
    : createAdapter(pub, sub, { key: prefix });

const http = createServer((req, res) => void handle(req, res));
const io = new Server(http, { adapter });
const nsp = io.of('/realtime');

nsp.on('connection', (socket) => {
  socket.on('subscribe', async (data: { channels?: unknown }, ack?: (r: unknown) => void) => {
    // One room, named after the channel (Tether prefixes it with the tenant; no need here).
    if (!Array.isArray(data?.channels) || !data.channels.includes(CHANNEL)) return ack?.({ ok: false });
    await socket.join(CHANNEL);
    ack?.({ ok: true });
  });
});

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url === '/ready') {
    res.writeHead(200).end('ok');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: { data?: unknown };
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    res.writeHead(400).end();
    return;
  }
  nsp.to(CHANNEL).emit(EVENT, body.data);
  res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}');
}

http.listen(port, '127.0.0.1');

// run.ts stops us with SIGTERM once the clients are gone.
process.once('SIGTERM', () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
});
