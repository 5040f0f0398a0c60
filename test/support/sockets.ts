import { io, Socket } from 'socket.io-client';

export type ClientSocket = Socket;

/** Connects to /realtime the way seed 000's client does; resolves once connected (or rejects with connect_error). */
export function connect(baseUrl: string, token: string | undefined, options: Record<string, unknown> = {}): Promise<Socket> {
  const socket = io(`${baseUrl}/realtime`, {
    transports: ['websocket'],
    auth: token === undefined ? {} : { token },
    reconnection: false,
    forceNew: true,
    ...options,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Resolves with the args of the next `event` on the socket. */
export function next<T = unknown>(socket: Socket, event: string, timeoutMs = 5000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (...args: T[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Records every event a socket receives, in order: [event, payload, meta]. */
export function record(socket: Socket): [string, any, any][] {
  const seen: [string, any, any][] = [];
  socket.onAny((event, payload, meta) => seen.push([event, payload, meta]));
  return seen;
}

export function request<T = any>(socket: Socket, event: string, data?: unknown, timeoutMs = 5000): Promise<T> {
  return socket.timeout(timeoutMs).emitWithAck(event, data);
}
