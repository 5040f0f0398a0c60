// The SDK's data parts (sync, mutations, messages) against the real app: one built app process,
// a ClientContext assembled by hand (HttpClient, JsonStore, a socket link that is down) and fetch
// wrappers that lose responses or point at a closed port.
// (The repository's tools/scratch and dev-token live outside client/'s rootDir: the few lines needed are here.)
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Client } from 'pg';
import { ClientContext, Clock, JsonStore, realClock, SocketLink } from '../src/context';
import { FetchLike, HttpClient } from '../src/http';
import { memoryStorage, TetherStorage } from '../src/storage';
import { TokenSource } from '../src/tokens';

export const UNTHROTTLED = { SYNC_READS_PER_MINUTE: '1000000', SYNC_BULK_PER_MINUTE: '1000000', RATE_LIMIT_PER_MINUTE: '1000000' };

const ROOT = join(__dirname, '..', '..');

export interface Server {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** The built app (`npm run build`) as a pod runs it, with the test world's env (database, Redis, secrets). */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'silent', ...UNTHROTTLED, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`the app exited during boot: ${output}`);
      return fetch(`${url}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
    },
    Boolean,
    60_000,
  );
  return {
    url,
    child,
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const freshTenant = (prefix: string) => `${prefix}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** An HS256 access token as the app's dev tokens are signed (src/core/auth/dev-token.ts). */
export const token = (tid: string, sub: string, roles = ['MEMBER']) =>
  new SignJWT({ tid, roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(process.env.MOBILE_JWT_SECRET!));

/** Every request a context made, as `METHOD /path?query` with its JSON body. */
export interface Sent {
  method: string;
  url: string;
  body: any;
  headers: Record<string, string>;
}

export interface TestContext {
  ctx: ClientContext;
  storage: TetherStorage;
  sent: Sent[];
  /** Calls the SocketLink's onReachable listeners (network back). */
  reachable(): void;
}

/** Wraps fetch: `hook` may answer instead of the server, or call `forward` and then lose the response. */
export type FetchHook = (url: string, init: RequestInit, forward: () => Promise<Response>) => Promise<Response>;

export async function context(
  server: Server,
  user: { tid: string; sub: string; roles?: string[] },
  opts: { storage?: TetherStorage; hook?: FetchHook; clock?: Clock; socket?: SocketLink } = {},
): Promise<TestContext> {
  const jwt = await token(user.tid, user.sub, user.roles);
  const sent: Sent[] = [];
  const fetchImpl: FetchLike = (url, init = {}) => {
    sent.push({
      method: init.method ?? 'GET',
      url: url.slice(server.url.length + '/api/mobile/v1'.length),
      body: init.body ? JSON.parse(init.body as string) : undefined,
      headers: init.headers as Record<string, string>,
    });
    const forward = () => fetch(url, init);
    return opts.hook ? opts.hook(url, init, forward) : forward();
  };
  const listeners = new Set<() => void>();
  const socket: SocketLink = opts.socket ?? {
    connected: false,
    emitWithAck: () => Promise.reject(new Error('not connected')),
    onReachable: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const storage = opts.storage ?? memoryStorage();
  const ctx: ClientContext = {
    http: new HttpClient(server.url, new TokenSource(() => jwt), fetchImpl, 5000),
    store: new JsonStore(storage),
    socket,
    clock: opts.clock ?? realClock,
  };
  return { ctx, storage, sent, reachable: () => listeners.forEach((l) => l()) };
}

/** A fetch that never reaches anything: a port nobody listens on. */
export async function closedPort(url: string): Promise<string> {
  return url.replace(/:\d+/, `:${await freePort()}`);
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

export async function pg(): Promise<Client> {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  return client;
}

/** Polls `fn` until `until` holds for its value. */
export async function eventually<T>(fn: () => Promise<T> | T, until: (v: T) => boolean = Boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (until(value)) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
