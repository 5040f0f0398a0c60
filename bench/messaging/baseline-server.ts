/**
 * The baseline for bench/messaging: what a send costs with nothing but the essentials. A bare
 * Socket.IO server with the same Redis adapter as Tether (sharded, dynamic), which inserts the
 * same rows with `pg` (bump last_seq, insert the message, one statement) and emits the stored
 * message to the conversation's room. No auth, no policies, no event log, no presence, no push.
 *
 *   PORT=... DATABASE_URL=... REDIS_URL=... REDIS_PREFIX=... node --import tsx baseline-server.ts
 */
import { createShardedAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Pool } from 'pg';
import { Server } from 'socket.io';

const env = process.env;
const TENANT = env.BENCH_TENANT ?? 'bench';
const pool = new Pool({ connectionString: env.DATABASE_URL, max: Number(env.DB_POOL_SIZE ?? 10) });
const pub = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const sub = pub.duplicate();

const SEND = `
  WITH c AS (UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now() WHERE id = $1 RETURNING id, last_seq)
  INSERT INTO messages (id, tenant_id, conversation_id, seq, sender_id, client_message_id, kind, content)
  SELECT $4, $2, c.id, c.last_seq, $3, $5, 'text', $6 FROM c
  RETURNING id, conversation_id AS "conversationId", seq, sender_id AS "senderId", client_message_id AS "clientMessageId",
            kind, content, created_at AS "createdAt"`;

const http = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404).end();
});
const io = new Server(http, { transports: ['websocket'], path: '/socket.io' });
io.adapter(createShardedAdapter(pub, sub, { channelPrefix: `${env.REDIS_PREFIX}-sio`, subscriptionMode: 'dynamic' }));

io.on('connection', (socket) => {
  const user = String(socket.handshake.auth.user);
  socket.on('join', (ids: string[], ack: (r: unknown) => void) => {
    for (const id of ids) void socket.join(`conv:${id}`);
    ack({ ok: true });
  });
  socket.on('message:send', (d: { conversationId: string; clientMessageId: string; content: string }, ack: (r: unknown) => void) => {
    pool.query(SEND, [d.conversationId, TENANT, user, randomUUID(), d.clientMessageId, d.content]).then(
      ({ rows }) => {
        io.to(`conv:${d.conversationId}`).emit('message:new', rows[0]);
        ack({ message: rows[0] });
      },
      (err: Error) => ack({ error: { code: 'internal_error', message: err.message } }),
    );
  });
});

http.listen(Number(env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  io.close();
  void Promise.all([pool.end(), pub.quit(), sub.quit()]).finally(() => process.exit(0));
});
