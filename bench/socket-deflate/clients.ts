/**
 * The load generator for bench/socket-deflate: N socket.io-client sockets (websocket transport
 * only, the ws client's default offer of permessage-deflate) in one process, which does nothing
 * else, so that its CPU per received event is what a client pays to receive (frame, inflate when
 * the server compressed, JSON parse).
 *
 *   URL=http://127.0.0.1:port CLIENTS=200 node --import tsx clients.ts    (with an IPC channel, from run.ts)
 *
 * IPC (run.ts): `reset` zeroes the counters, `progress` answers CPU and events received, `sample`
 * answers CPU, events received, the latency
 * percentiles since the reset and the time of the last receipt, `close` disconnects everyone.
 */
import { performance } from 'node:perf_hooks';
import { io, Socket } from 'socket.io-client';
import { quantile } from '../../tools/scratch/report';
import { EVENT } from './payloads';

export type ClientCommand = { type: 'reset' } | { type: 'progress' } | { type: 'sample' } | { type: 'close' };
export type ClientReply =
  | { type: 'progress'; cpuUs: number; received: number; lastAt: number }
  | { type: 'connected'; connected: number; failed: number; deflating: number; ms: number }
  | {
      type: 'sample';
      cpuUs: number;
      received: number;
      p50: number;
      p99: number;
      max: number;
      /** When the last event of the window arrived (performance.timeOrigin-based, ms). */
      lastAt: number;
      disconnected: number;
    }
  | { type: 'closed' };

const URL = process.env.URL!;
const CLIENTS = Number(process.env.CLIENTS ?? 200);
const send = (reply: ClientReply) => process.send!(reply);

const sockets: Socket[] = [];
let received = 0;
let latencies: number[] = [];
let lastAt = 0;
let disconnected = 0;

function connectOne(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(URL, { transports: ['websocket'], reconnection: false, timeout: 20_000 });
    socket.on(EVENT, (meta: { at: number }) => {
      const now = performance.timeOrigin + performance.now();
      received++;
      latencies.push(now - meta.at);
      lastAt = now;
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
    socket.once('disconnect', () => disconnected++);
  });
}

async function connectAll(): Promise<void> {
  const started = Date.now();
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next++ < CLIENTS) {
      try {
        sockets.push(await connectOne());
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  // What the ws client and the server agreed on, per socket.
  const deflating = sockets.filter((s) => {
    const ws = (s.io.engine as unknown as { transport: { ws?: { extensions?: string } } }).transport.ws;
    return Boolean(ws?.extensions?.includes('permessage-deflate'));
  }).length;
  send({ type: 'connected', connected: sockets.length, failed, deflating, ms: Date.now() - started });
}

process.on('message', (cmd: ClientCommand) => {
  if (cmd.type === 'reset') {
    received = 0;
    latencies = [];
    lastAt = 0;
  } else if (cmd.type === 'progress') {
    // Cheap, polled while a step drains: no percentiles here (sorting them would cost CPU we measure).
    const cpu = process.cpuUsage();
    send({ type: 'progress', cpuUs: cpu.user + cpu.system, received, lastAt });
  } else if (cmd.type === 'sample') {
    const cpu = process.cpuUsage();
    send({
      type: 'sample',
      cpuUs: cpu.user + cpu.system,
      received,
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      max: quantile(latencies, 1),
      lastAt,
      disconnected,
    });
  } else if (cmd.type === 'close') {
    for (const s of sockets) s.close();
    send({ type: 'closed' });
  }
});

process.on('disconnect', () => process.exit(0));
void connectAll();
