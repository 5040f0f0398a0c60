/**
 * A load generator: a child process of run.ts that opens Socket.IO connections to one server at a
 * time, as fast as it can with a bounded number in flight, and holds them idle until told to close.
 *
 * It speaks the Socket.IO 4 protocol itself over `ws` (Engine.IO v4, WebSocket transport only,
 * as socket.io-client does with `transports: ['websocket']`): open the WebSocket, wait for the
 * Engine.IO open packet, send the namespace CONNECT with `{token}`, wait for its answer (and, for
 * Tether, for the `session` event), answer every ping. Same bytes on the wire as socket.io-client,
 * at a fraction of its CPU and memory per socket: on two cores the generators compete with the
 * server, and 20,000 socket.io-client Managers would make them the bottleneck. Tokens are signed
 * before the timed phase (`prepare`).
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { signDevToken } from '../../src/core/auth/dev-token';
import { Command, Histogram, Reply } from './protocol';

const NAMESPACE = '/realtime';
const CONNECT_TIMEOUT_MS = 30_000;

const tokens = new Map<number, string>();
const sockets = new Set<WebSocket>();
let closedByServer = 0;
let pings = 0;
let closing = false;

function send(reply: Reply): void {
  process.send!(reply);
}

interface Timing {
  connectMs: number;
  readyMs: number;
  deflate: boolean;
}

/** One socket: resolves once it is ready, rejects with a short reason otherwise. */
function connectOne(url: string, token: string, localAddress: string, waitSession: boolean): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let connectMs = NaN;
    let settled = false;
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      localAddress,
      // What engine.io-client offers by default ({threshold: 1024}); the server decides.
      perMessageDeflate: true,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
    });
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sockets.delete(ws);
      ws.terminate();
      reject(new Error(reason));
    };
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ connectMs, readyMs: performance.now() - started, deflate: ws.extensions.includes('permessage-deflate') });
    };
    const timer = setTimeout(() => fail('timeout'), CONNECT_TIMEOUT_MS);
    sockets.add(ws);
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text === '2') {
        pings++;
        ws.send('3');
      } else if (text.startsWith('0{')) ws.send(`40${NAMESPACE},${JSON.stringify({ token })}`);
      else if (text.startsWith(`40${NAMESPACE},`)) {
        connectMs = performance.now() - started;
        if (!waitSession) done();
      } else if (text.startsWith(`44${NAMESPACE},`)) {
        const body = JSON.parse(text.slice(`44${NAMESPACE},`.length)) as { message?: string; data?: { code?: string } };
        fail(`refused: ${body.data?.code ?? body.message ?? text.slice(0, 80)}`);
      } else if (text.startsWith(`42${NAMESPACE},["session"`)) done();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    ws.on('close', () => {
      sockets.delete(ws);
      if (!settled) fail('closed during handshake');
      else if (!closing) closedByServer++;
    });
  });
}

async function connectAll(cmd: Extract<Command, { type: 'connect' }>): Promise<void> {
  const connectLatency = new Histogram();
  const readyLatency = new Histogram();
  const errors: Record<string, number> = {};
  let connected = 0;
  let failed = 0;
  let deflate = 0;
  let next = 0;
  closing = false;
  const startedAt = Date.now();
  let endedAt = startedAt;
  const worker = async () => {
    while (next < cmd.count) {
      const index = cmd.first + next++;
      try {
        const t = await connectOne(cmd.url, tokens.get(index)!, cmd.localAddress, cmd.waitSession);
        connected++;
        if (t.deflate) deflate++;
        connectLatency.add(t.connectMs);
        readyLatency.add(t.readyMs);
        endedAt = Date.now();
      } catch (err) {
        failed++;
        const reason = (err as Error).message;
        if (reason in errors || Object.keys(errors).length < 8) errors[reason] = (errors[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.count) }, worker));
  send({
    type: 'connected',
    connected,
    failed,
    errors,
    startedAt,
    endedAt,
    connectLatency: connectLatency.sparse(),
    readyLatency: readyLatency.sparse(),
    deflate,
  });
}

process.on('message', (cmd: Command) => {
  switch (cmd.type) {
    case 'prepare': {
      const started = Date.now();
      void (async () => {
        for (let i = cmd.first; i < cmd.first + cmd.count; i++)
          if (!tokens.has(i))
            tokens.set(i, await signDevToken(cmd.jwtSecret, { sub: `bench-conn-${i}`, tid: cmd.tenantId, roles: ['MEMBER'] }, 7200));
        send({ type: 'prepared', ms: Date.now() - started });
      })();
      break;
    }
    case 'connect':
      void connectAll(cmd);
      break;
    case 'status':
      send({ type: 'status', open: sockets.size, closedByServer, pings });
      break;
    case 'close': {
      closing = true;
      const all = [...sockets];
      let left = all.length;
      if (!left) send({ type: 'closed' });
      for (const ws of all) {
        ws.once('close', () => --left === 0 && send({ type: 'closed' }));
        ws.close();
      }
      closedByServer = 0;
      pings = 0;
      break;
    }
  }
});

// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));
