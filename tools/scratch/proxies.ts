// Proxies for client tests: a load balancer that moves to the next pod when one dies, and an HTTP
// proxy that blocks the Socket.IO path or loses a response after the server answered.
import { createServer as createHttpServer, IncomingMessage, request as httpRequest, Server as HttpServer, ServerResponse } from 'node:http';
import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * A TCP load balancer on loopback: each new connection goes to the first of `ports` that accepts
 * it, so when a pod dies its clients reach the next one. `refuse(true)` keeps new connections out
 * (the server is unreachable), `cut()` drops every open one, `route()` replaces the pods.
 */
export interface TcpRouter {
  port: number;
  url: string;
  route(ports: number[]): void;
  refuse(on: boolean): void;
  cut(): void;
  /** Connections accepted so far (each reached a pod). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpRouter(ports: number[]): Promise<TcpRouter> {
  let targets = [...ports];
  let refusing = false;
  let connections = 0;
  const open = new Set<Socket>();
  const track = (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
    s.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (refusing) return client.destroy();
    const attempt = (left: number[]) => {
      if (!left.length) return client.destroy();
      const upstream = createConnection(left[0], '127.0.0.1');
      const refused = () => attempt(left.slice(1));
      upstream.once('error', refused);
      upstream.once('connect', () => {
        upstream.off('error', refused);
        track(upstream);
        if (client.destroyed) return upstream.destroy();
        connections++;
        client.pipe(upstream).pipe(client);
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
      });
    };
    attempt(targets);
  });
  await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const s of open) s.destroy();
    open.clear();
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    route: (next) => {
      targets = [...next];
    },
    refuse: (on) => {
      refusing = on;
    },
    cut,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

/** What the HTTP fault proxy saw: every request's method and path (with the query). */
export interface ProxiedRequest {
  method: string;
  url: string;
  /** The upstream answered, but the client got a cut connection instead. */
  dropped: boolean;
}

/**
 * An HTTP reverse proxy in front of one pod. `blockSocketPath(true)` refuses every Socket.IO
 * request and upgrade (as a proxy that blocks WebSocket and long-polling does) and drops the ones
 * open, while `/api/...` keeps working; `dropResponses(match, n)` forwards the next `n` matching
 * requests, waits for the pod's whole answer (the write is committed) and then cuts the client's
 * connection instead of answering.
 */
export interface HttpFaultProxy {
  port: number;
  url: string;
  blockSocketPath(on: boolean): void;
  dropResponses(match: (req: { method: string; url: string }) => boolean, count?: number): void;
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startHttpFaultProxy(targetPort: number): Promise<HttpFaultProxy> {
  let blocked = false;
  const drops: { match: (req: { method: string; url: string }) => boolean; left: number }[] = [];
  const requests: ProxiedRequest[] = [];
  /** Connections that carried Socket.IO (upgraded WebSockets, long-polling): what blocking drops. */
  const upgraded = new Set<Socket>();
  const isSocketPath = (url: string | undefined) => (url ?? '').startsWith('/socket.io/');

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const seen: ProxiedRequest = { method, url, dropped: false };
    requests.push(seen);
    if (isSocketPath(url)) {
      upgraded.add(req.socket);
      req.socket.once('close', () => upgraded.delete(req.socket));
    }
    if (blocked && isSocketPath(url)) {
      res.writeHead(503, { 'Content-Type': 'text/plain', Connection: 'close' }).end('blocked');
      return;
    }
    const rule = drops.find((d) => d.left > 0 && d.match({ method, url }));
    if (rule) rule.left--;
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, method, path: url, headers: req.headers },
      (answer: IncomingMessage) => {
        if (rule) {
          // Read the whole answer (the pod finished the request), then lose it.
          answer.resume();
          answer.once('end', () => {
            seen.dropped = true;
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };

  const server: HttpServer = createHttpServer(forward);
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => undefined);
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', dropped: false });
    if (blocked && isSocketPath(req.url)) return client.destroy();
    const upstream = createConnection(targetPort, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upgraded.add(client);
    client.once('close', () => upgraded.delete(client));
  });
  await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    blockSocketPath: (on) => {
      blocked = on;
      if (!on) return;
      for (const s of upgraded) s.destroy();
      upgraded.clear();
    },
    dropResponses: (match, count = 1) => {
      drops.push({ match, left: count });
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of upgraded) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
