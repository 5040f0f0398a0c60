/**
 * A bare Socket.IO 4 server for bench/socket-deflate: node:http, websocket transport only, every
 * client in one room, and nothing else in the process, so that its CPU (process.cpuUsage(): all
 * threads, the libuv pool where ws runs zlib included) is the cost of delivering the events.
 *
 *   PORT=... DEFLATE=off|on|nct node --import tsx server.ts    (with an IPC channel, from run.ts)
 *
 * DEFLATE=on: `perMessageDeflate: { threshold: 1024 }`, ws's default zlib settings otherwise
 * (level 6 = Z_DEFAULT_COMPRESSION, memLevel 8, 15-bit window, context takeover both ways,
 * 10 concurrent zlib jobs). DEFLATE=off is Socket.IO's default and Tether's setting.
 * Note: engine.io 6 sends every packet with ws's default `compress: true`, and ws applies the
 * threshold only when context takeover is off (sender.js), so with `on` every event is compressed,
 * small ones too. DEFLATE=nct adds `serverNoContextTakeover` and `clientNoContextTakeover`: each
 * message is compressed on its own, and then the 1,024-byte threshold does apply.
 *
 * IPC (run.ts): `prepare` pre-generates a step's events (outside any measurement), `sample` answers
 * CPU and the bytes the clients' TCP sockets have written and read so far, `emit` sends the
 * prepared events to the room at a fixed rate and answers when the last one is out.
 */
import { createServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { EVENT, generator, Kind, ROOM } from './payloads';

export type ServerCommand = { type: 'prepare'; kind: Kind; count: number } | { type: 'sample' } | { type: 'emit'; rate: number };

export type ServerReply =
  | { type: 'prepared'; meanBytes: number }
  | { type: 'sample'; cpuUs: number; written: number; read: number; sockets: number; deflating: number }
  | { type: 'emitted'; count: number; lateMs: number; startedAt: number };

const mode = process.env.DEFLATE ?? 'off';
const perMessageDeflate =
  mode === 'on'
    ? { threshold: 1024 }
    : mode === 'nct'
      ? { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true }
      : false;
const http = createServer((req, res) => void res.writeHead(req.url === '/ready' ? 200 : 404).end('ok'));
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate,
});

// Every upgraded TCP socket: bytes written to and read from the kernel, kept after it closes.
const tcp = new Set<NetSocket>();
let closedWritten = 0;
let closedRead = 0;
http.on('upgrade', (_req, socket: NetSocket) => {
  tcp.add(socket);
  socket.once('close', () => {
    tcp.delete(socket);
    closedWritten += socket.bytesWritten;
    closedRead += socket.bytesRead;
  });
});

/** Sockets whose connection negotiated permessage-deflate (what `sample` reports as `deflating`). */
let deflating = 0;
io.on('connection', (socket) => {
  void socket.join(ROOM);
  const ws = (socket.conn as unknown as { transport: { socket?: { extensions?: string } } }).transport.socket;
  const negotiated = Boolean(ws?.extensions?.includes('permessage-deflate'));
  if (negotiated) deflating++;
  socket.once('disconnect', () => negotiated && deflating--);
});

const send = (reply: ServerReply) => process.send!(reply);
let prepared: Record<string, unknown>[] = [];
const gen = generator();

process.on('message', (cmd: ServerCommand) => {
  if (cmd.type === 'prepare') {
    prepared = Array.from({ length: cmd.count }, () => gen.next(cmd.kind));
    const meanBytes = prepared.reduce((sum, p) => sum + Buffer.byteLength(JSON.stringify(p)), 0) / prepared.length;
    send({ type: 'prepared', meanBytes });
  } else if (cmd.type === 'sample') {
    const cpu = process.cpuUsage();
    let written = closedWritten;
    let read = closedRead;
    for (const s of tcp) {
      written += s.bytesWritten;
      read += s.bytesRead;
    }
    send({ type: 'sample', cpuUs: cpu.user + cpu.system, written, read, sockets: io.engine.clientsCount, deflating });
  } else if (cmd.type === 'emit') {
    // Open loop on an absolute schedule: event i leaves at start + i / rate, whatever the last cost.
    const events = prepared;
    const interval = 1000 / cmd.rate;
    const start = performance.now();
    const startedAt = performance.timeOrigin + start;
    let i = 0;
    let lateMs = 0;
    const tick = () => {
      const now = performance.now();
      while (i < events.length && start + i * interval <= now) {
        lateMs = Math.max(lateMs, now - (start + i * interval));
        // The send time travels with the event: the clients' latency (same machine, same clock).
        io.to(ROOM).emit(EVENT, { i, at: performance.timeOrigin + performance.now() }, events[i]);
        i++;
      }
      if (i < events.length) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
      else send({ type: 'emitted', count: events.length, lateMs, startedAt });
    };
    tick();
  }
});

http.listen(Number(process.env.PORT), '127.0.0.1');
process.on('disconnect', () => process.exit(0));
process.once('SIGTERM', () => {
  io.close();
  process.exit(0);
});
