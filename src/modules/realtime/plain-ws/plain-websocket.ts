import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server } from 'socket.io';
import { WebSocketServer } from 'ws';
import { bearerToken } from '../../../core/auth/auth.guards';
import { JsonFrameRequest, JsonFrameTransport } from './json-frame.transport';

/** `/ws` (the venues app) and `/messages/subscribe` (the messaging app): the same endpoint under two names. */
export const PLAIN_WEBSOCKET_PATHS = ['/ws', '/messages/subscribe'];

/**
 * The messaging app's names for the events it shows, sent on `/messages/subscribe` as the frame's
 * `type` (`{type: 'message.new', channel, data, offset}`); other events keep `{type: 'event', event}`.
 */
export const MESSAGING_APP_EVENT_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  [
    'message:new',
    'message:updated',
    'message:deleted',
    'message:delivered',
    'message:read',
    'typing:start',
    'typing:stop',
    'presence:update',
    'user:online',
    'user:offline',
    'conversation:updated',
  ].map((name) => [name, name.replace(':', '.')]),
);

interface EngineInternals {
  handshake(transport: string, req: IncomingMessage, closeConnection: (code: number) => void): Promise<unknown>;
  createTransport(transport: string, req: IncomingMessage): unknown;
}

/**
 * Serves plain WebSocket clients (JSON frames, see JsonFrameTransport) on the HTTP port, beside
 * Socket.IO's `/socket.io` path. Each connection is handed to Socket.IO's engine as a handshake on
 * a JsonFrameTransport, and from there on is an ordinary socket of the /realtime namespace.
 * Socket.IO must be created with `destroyUpgrade: false` (it would otherwise close upgrade
 * requests for paths it does not own, ours included); this listener closes the unknown ones.
 */
export function attachPlainWebSocket(httpServer: HttpServer, io: Server, options: { maxPayload: number; socketIoPath: string }): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: false });
  const engine = io.engine as unknown as EngineInternals;
  const createTransport = engine.createTransport.bind(engine);
  engine.createTransport = (name, req) =>
    (req as Partial<JsonFrameRequest>).tetherToken !== undefined
      ? new JsonFrameTransport(req as JsonFrameRequest)
      : createTransport(name, req);

  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith(options.socketIoPath)) return; // Socket.IO's own
    if (!PLAIN_WEBSOCKET_PATHS.includes(url.pathname)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // The same admission as Socket.IO's own handshakes (the gateway refuses them while draining).
    const allowRequest = (io.engine as unknown as { opts: { allowRequest?: AllowRequest } }).opts.allowRequest;
    if (allowRequest)
      return allowRequest(req, (err, allowed) => {
        if (allowed) return upgrade(req, socket, head, url);
        socket.end(`HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nX-Reason: ${err ?? 'refused'}\r\n\r\n`);
      });
    upgrade(req, socket, head, url);
  });

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    wss.handleUpgrade(req, socket, head, (websocket) => {
      const request = req as JsonFrameRequest;
      request.websocket = websocket;
      // engine.io reads the protocol revision and the client's parameters from `_query`.
      request._query = { ...Object.fromEntries(url.searchParams), EIO: '4', transport: 'websocket' };
      // Empty string rather than undefined: it also marks the request as ours (createTransport).
      request.tetherToken = url.searchParams.get('token') || bearerToken(req.headers.authorization) || '';
      if (url.pathname === '/messages/subscribe') request.tetherEventNames = MESSAGING_APP_EVENT_NAMES;
      void engine.handshake('websocket', req, () => websocket.close(1011, 'handshake_failed'));
    });
  }
}

type AllowRequest = (req: IncomingMessage, callback: (err: string | null | undefined, allowed: boolean) => void) => void;
