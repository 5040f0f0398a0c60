/**
 * A load generator: a child process of run.ts holding a share of the clients. Each client is one
 * user with one socket, subscribed to one channel `feed:<g % channels>`; client g starts on pod
 * g % 2 (A or B). When its socket drops it reconnects the way the SDK does (client/src/client.ts):
 * to the other pod, after a full-jitter backoff (0-500 ms, doubling per failed attempt, 30 s at
 * most); a `rate_limited` refusal waits its `retryAfter` plus up to 1 s; a connect or a subscribe
 * answer not there within the SDK's ackTimeoutMs (10 s, `--connect-timeout`) is a failed attempt;
 * once connected it waits for `session` and subscribes with `since: {channel: the last meta.offset it saw}`. It records each
 * event's per-channel seq (once, in order), and for the clients of pod A the time from the drop
 * to the subscribe answer and that answer's `recovered`. Lean on purpose (the machine has two
 * cores shared with the pods and Redis): one handler per event, a byte per (client, seq).
 */
import { io, Socket } from 'socket.io-client';
import { signDevToken } from '../../src/core/auth/dev-token';
import { Command, EVENT, Payload, Reply, StormState } from './protocol';

interface Client {
  g: number;
  channel: string;
  channelIndex: number;
  token: string;
  /** The pod index the current (or last) socket is on. */
  pod: number;
  socket?: Socket;
  /** The latest offset seen on the channel (subscribe answer or event meta): the next `since`. */
  offset?: string;
  /** seen[seq] = 1 once received. */
  seen: Uint8Array;
  maxSeq: number;
  duplicates: number;
  outOfOrder: number;
  strays: number;
  startedOnA: boolean;
  droppedAt?: number;
  attempts: number;
  /** Answer to the resubscribe: true/false; undefined while pending. */
  recovered?: boolean;
  recoveredAt?: number;
}

const clients: Client[] = [];
let urls: string[] = [];
let closing = false;
let timeoutMs = 10_000;
const refusals: Record<string, number> = {};
const transportErrors: Record<string, number> = {};
const subscribeErrors: Record<string, number> = {};
let unexpectedDisconnects = 0;

const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
const send = (reply: Reply) => process.send!(reply);

function onEvent(c: Client, payload: Payload, meta?: { channel?: string; offset?: string }): void {
  if (meta?.channel !== undefined && meta.channel !== c.channel) {
    c.strays++;
    return;
  }
  if (meta?.offset) c.offset = meta.offset;
  const seq = payload.seq;
  if (seq >= c.seen.length) {
    const grown = new Uint8Array(Math.max(seq + 1, c.seen.length * 2));
    grown.set(c.seen);
    c.seen = grown;
  }
  if (c.seen[seq]) {
    c.duplicates++;
    return;
  }
  c.seen[seq] = 1;
  if (seq < c.maxSeq) c.outOfOrder++;
  else c.maxSeq = seq;
}

/** Opens a socket to `url` and resolves once `session` arrived; rejects with the refusal's code or the transport error. */
function open(c: Client, url: string): Promise<Socket> {
  const socket = io(`${url}/realtime`, {
    transports: ['websocket'],
    auth: { token: c.token },
    reconnection: false, // our own loop reconnects, like the SDK
    forceNew: true, // one connection per client, like real devices
    timeout: timeoutMs,
  });
  // Before anything else, so not even a replayed event can slip past.
  socket.on(EVENT, (payload: Payload, meta?: { channel?: string; offset?: string }) => onEvent(c, payload, meta));
  return new Promise((resolve, reject) => {
    socket.once('session', () => resolve(socket));
    socket.once('connect_error', (err: Error & { data?: { code?: string; retryAfter?: number } }) => {
      socket.off();
      socket.close();
      reject(err);
    });
    socket.once('disconnect', (reason) => reject(new Error(`disconnected before session: ${reason}`)));
  });
}

function backoff(attempt: number): number {
  return Math.floor(Math.random() * Math.min(30_000, 500 * 2 ** attempt));
}

async function subscribe(c: Client, socket: Socket): Promise<{ offsets?: Record<string, string>; recovered?: Record<string, boolean> }> {
  const since = c.offset ? { [c.channel]: c.offset } : undefined;
  const ack = await socket.timeout(timeoutMs).emitWithAck('subscribe', { channels: [c.channel], ...(since ? { since } : {}) });
  if (!ack?.subscribed?.includes(c.channel)) throw new Error(`subscribe refused: ${JSON.stringify(ack).slice(0, 200)}`);
  return ack;
}

/** The socket dropped: reconnect to the other pod, as the SDK would, until subscribed again. */
function onDrop(c: Client, socket: Socket): void {
  if (closing || socket !== c.socket) return;
  c.socket = undefined;
  if (!c.startedOnA || c.droppedAt !== undefined) unexpectedDisconnects++;
  c.droppedAt ??= Date.now();
  let failures = 0;
  const attempt = async (): Promise<void> => {
    if (closing) return;
    c.pod = 1 - c.pod;
    c.attempts++;
    let next: number;
    try {
      const s = await open(c, urls[c.pod]);
      try {
        const ack = await subscribe(c, s);
        if (ack.offsets?.[c.channel] && !c.offset) c.offset = ack.offsets[c.channel];
        c.socket = s;
        s.once('disconnect', () => onDrop(c, s));
        if (c.recovered === undefined) {
          c.recovered = ack.recovered?.[c.channel] === true;
          c.recoveredAt = Date.now();
        }
        return;
      } catch (err) {
        bump(subscribeErrors, (err as Error).message.slice(0, 80));
        s.off();
        s.close();
        // Stay on this pod for the next attempt.
        c.pod = 1 - c.pod;
        next = backoff(failures++);
      }
    } catch (err) {
      const e = err as Error & { data?: { code?: string; retryAfter?: number } };
      if (e.data?.code) {
        bump(refusals, e.data.code);
        // The same pod again: it answered (the other one may be dead).
        c.pod = 1 - c.pod;
        next = e.data.code === 'rate_limited' ? (e.data.retryAfter ?? 1) * 1000 + Math.random() * 1000 : backoff(failures++);
      } else {
        bump(transportErrors, e.message.slice(0, 80));
        next = backoff(failures++);
      }
    }
    setTimeout(() => void attempt(), next);
  };
  setTimeout(() => void attempt(), backoff(failures++));
}

async function connectOne(c: Client): Promise<void> {
  const s = await open(c, urls[c.pod]);
  try {
    const ack = await subscribe(c, s);
    c.offset ??= ack.offsets?.[c.channel];
  } catch (err) {
    s.off();
    s.close();
    throw err;
  }
  c.socket = s;
  s.once('disconnect', () => onDrop(c, s));
}

async function connectAll(cmd: Extract<Command, { type: 'connect' }>): Promise<void> {
  const started = Date.now();
  urls = cmd.urls;
  timeoutMs = cmd.timeoutMs;
  const errors: Record<string, number> = {};
  let next = 0;
  let connected = 0;
  const worker = async () => {
    while (next < cmd.clients) {
      const g = cmd.first + next++;
      const channelIndex = g % cmd.channels;
      const c: Client = {
        g,
        channel: `feed:${channelIndex}`,
        channelIndex,
        token: await signDevToken(cmd.jwtSecret, { sub: `storm-user-${g}`, tid: cmd.tenantId, roles: ['MEMBER'] }, 7200),
        pod: g % 2,
        seen: new Uint8Array(64),
        maxSeq: 0,
        duplicates: 0,
        outOfOrder: 0,
        strays: 0,
        startedOnA: g % 2 === 0,
        attempts: 0,
      };
      try {
        await connectOne(c);
        clients.push(c);
        connected++;
      } catch (err) {
        const e = err as Error & { data?: { code?: string } };
        bump(errors, e.data?.code ?? e.message.slice(0, 80));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.clients) }, worker));
  send({ type: 'connected', connected, failed: cmd.clients - connected, errors, ms: Date.now() - started });
}

function state(): StormState {
  const s: StormState = { pending: 0, recoveredTrue: 0, recoveredFalse: 0, lastRecoveredAt: 0 };
  for (const c of clients) {
    if (!c.startedOnA) continue;
    if (c.recovered === undefined) s.pending++;
    else if (c.recovered) s.recoveredTrue++;
    else s.recoveredFalse++;
    if (c.recoveredAt && c.recoveredAt > s.lastRecoveredAt) s.lastRecoveredAt = c.recoveredAt;
  }
  return s;
}

/** (client, seq) pairs published on the client's channel (seqs 1..published, less `failed`) not received. */
function missingOf(c: Client, published: number[], failed?: Set<number>[]): number {
  let missing = 0;
  const n = published[c.channelIndex] ?? 0;
  for (let seq = 1; seq <= n; seq++) if (!(seq < c.seen.length && c.seen[seq]) && !failed?.[c.channelIndex]?.has(seq)) missing++;
  return missing;
}

process.on('message', (cmd: Command) => {
  switch (cmd.type) {
    case 'connect':
      void connectAll(cmd);
      break;
    case 'progress': {
      let missing = 0;
      if (cmd.published) for (const c of clients) missing += missingOf(c, cmd.published);
      send({ type: 'progress', missing, ...state() });
      break;
    }
    case 'report': {
      const failed = cmd.failed.map((seqs) => new Set(seqs));
      let lost = 0;
      let clientsWithLoss = 0;
      let duplicates = 0;
      let outOfOrder = 0;
      let strays = 0;
      const reconnectMs: number[] = [];
      const recoveredAt: number[] = [];
      const attempts: number[] = [];
      for (const c of clients) {
        const missing = missingOf(c, cmd.published, failed);
        lost += missing;
        if (missing) clientsWithLoss++;
        duplicates += c.duplicates;
        outOfOrder += c.outOfOrder;
        strays += c.strays;
        if (c.startedOnA && c.recoveredAt !== undefined) {
          reconnectMs.push(c.recoveredAt - c.droppedAt!);
          recoveredAt.push(c.recoveredAt);
          attempts.push(c.attempts);
        }
      }
      send({
        type: 'report',
        clients: clients.length,
        lost,
        clientsWithLoss,
        duplicates,
        outOfOrder,
        unexpectedDisconnects,
        reconnectMs,
        recoveredAt,
        attempts,
        refusals,
        transportErrors,
        subscribeErrors,
        strays,
        ...state(),
      });
      break;
    }
    case 'close':
      closing = true;
      for (const c of clients) c.socket?.close();
      send({ type: 'closed' });
      break;
  }
});

// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));
