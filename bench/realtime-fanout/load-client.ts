/**
 * A load generator: a child process of run.ts holding a share of the socket.io-client sockets of
 * both targets (group 'baseline' and group 'Tether'; only one group is published to at a time).
 * It connects them, subscribes each to the one channel, and for each step counts what every
 * client of the group receives. It stays lean on purpose (the machine has two cores shared with
 * the servers and Redis): one handler per event, integer counters, a byte per (client, seq), no
 * logging. Driven over the IPC channel by run.ts (see protocol.ts).
 */
import { io, Socket } from 'socket.io-client';
import { signDevToken } from '../../src/core/auth/dev-token';
import { CHANNEL, Command, EVENT, Histogram, Payload, Reply } from './protocol';

interface Client {
  socket: Socket;
  /** One byte per seq of the current step: received or not (catches gaps and duplicates). */
  seen: Uint8Array;
  disconnected: boolean;
}

const groups = new Map<string, Client[]>();
const latency = new Histogram();
let step = { firstSeq: 0, count: 0, windowEnd: 0 };
let distinct = 0;
let inWindow = 0;
let duplicates = 0;

function send(reply: Reply): void {
  process.send!(reply);
}

function onEvent(client: Client, payload: Payload): void {
  const now = Date.now();
  const i = payload.seq - step.firstSeq;
  // Stragglers of an earlier step (or of warm-up) are not this step's business. Seqs are unique
  // across the run, so the other group's clients can never match a step by accident.
  if (i < 0 || i >= step.count || client.seen.length !== step.count) return;
  if (client.seen[i]) {
    duplicates++;
    return;
  }
  client.seen[i] = 1;
  distinct++;
  if (now <= step.windowEnd) inWindow++;
  latency.add(now - payload.t);
}

async function connectOne(url: string, token: string | undefined): Promise<Client> {
  const socket = io(`${url}/realtime`, {
    transports: ['websocket'],
    auth: token ? { token } : {},
    reconnection: false, // a dropped client must show up as loss, not be papered over
    forceNew: true, // one connection per client, like real devices
    timeout: 20_000,
  });
  const client: Client = {
    socket,
    seen: new Uint8Array(0),
    disconnected: false,
  };
  // Before subscribing, so not even the first event can slip past.
  socket.on(EVENT, (payload: Payload) => onEvent(client, payload));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err: Error & { data?: unknown }) =>
        reject(new Error(`connect_error: ${err.message} ${JSON.stringify(err.data ?? '')}`)),
      );
    });
    const ack = await socket.timeout(20_000).emitWithAck('subscribe', { channels: [CHANNEL] });
    // Tether acks {subscribed: [...]}, the baseline {ok: true}.
    if (!(ack?.ok === true || ack?.subscribed?.includes(CHANNEL))) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
  } catch (err) {
    socket.close();
    throw err;
  }
  socket.on('disconnect', () => (client.disconnected = true));
  return client;
}

async function connectAll(cmd: Extract<Command, { type: 'connect' }>): Promise<void> {
  const started = Date.now();
  // A group may be connected in several batches; they add up.
  const clients = groups.get(cmd.group) ?? [];
  groups.set(cmd.group, clients);
  const before = clients.length;
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  // A fixed pool of workers: bounded concurrency so the servers see a steady handshake rate.
  const worker = async () => {
    while (next < cmd.clients) {
      const global = cmd.offset + next++;
      const url = cmd.urls[global % cmd.urls.length];
      try {
        const token = cmd.jwtSecret
          ? await signDevToken(
              cmd.jwtSecret,
              {
                sub: `bench-user-${global}`,
                tid: cmd.tenantId,
                roles: ['MEMBER'],
              },
              3600,
            )
          : undefined;
        clients.push(await connectOne(url, token));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.clients) }, worker));
  send({
    type: 'connected',
    connected: clients.length - before,
    failed,
    firstError,
    ms: Date.now() - started,
  });
}

let current: Client[] = [];

function report(): void {
  let lost = 0;
  let clientsWithLoss = 0;
  for (const c of current) {
    let missing = 0;
    for (let i = 0; i < c.seen.length; i++) if (!c.seen[i]) missing++;
    lost += missing;
    if (missing) clientsWithLoss++;
  }
  const disconnected = current.filter((c) => c.disconnected).length;
  send({
    type: 'report',
    distinct,
    inWindow,
    duplicates,
    lost,
    clientsWithLoss,
    disconnected,
    latency: latency.sparse(),
  });
}

process.on('message', (cmd: Command) => {
  switch (cmd.type) {
    case 'connect':
      void connectAll(cmd);
      break;
    case 'step':
      // Only the published group gets bitmaps; the other group's clients ignore everything.
      for (const c of current) c.seen = new Uint8Array(0);
      current = groups.get(cmd.group) ?? [];
      step = {
        firstSeq: cmd.firstSeq,
        count: cmd.count,
        windowEnd: cmd.windowEnd,
      };
      for (const c of current) c.seen = new Uint8Array(cmd.count);
      latency.reset();
      distinct = inWindow = duplicates = 0;
      send({ type: 'stepping' });
      break;
    case 'progress':
      send({ type: 'progress', distinct });
      break;
    case 'report':
      report();
      break;
    case 'close':
      for (const clients of groups.values()) for (const c of clients) c.socket.close();
      groups.clear();
      current = [];
      send({ type: 'closed' });
      break;
  }
});

// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));
