// The SDK's data parts (sync, mutations, messages) against the real app: one built app process,
// a ClientContext assembled by hand (HttpClient, JsonStore, a socket link that is down) and fetch
// wrappers that lose responses or point at a closed port.
import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { signDevToken } from '../../src/core/auth/dev-token';
import { eventually as scratchEventually, freePort, spawnApp, waitReady } from '../../tools/scratch';
import { ClientContext, Clock, JsonStore, realClock, SocketLink } from '../src/context';
import { FetchLike, HttpClient } from '../src/http';
import { memoryStorage, TetherStorage } from '../src/storage';
import { TokenSource } from '../src/tokens';

export const UNTHROTTLED = { SYNC_READS_PER_MINUTE: '1000000', SYNC_BULK_PER_MINUTE: '1000000', RATE_LIMIT_PER_MINUTE: '1000000' };

export interface Server {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

/** The built app (`npm run build`) as a pod runs it, with the test world's env (database, Redis, secrets). */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const proc = spawnApp({ LOG_LEVEL: 'silent', ...UNTHROTTLED, ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, proc);
  return {
    url,
    child: proc.child,
    close: async () => {
      proc.child.kill('SIGTERM');
      await proc.exited;
    },
  };
}

export const freshTenant = (prefix: string) => `${prefix}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** An access token of the test world's secret. */
export const token = (tid: string, sub: string, roles = ['MEMBER']) => signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles });

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
export const eventually = <T>(fn: () => Promise<T> | T, until: (v: T) => unknown = Boolean, timeoutMs = 15_000): Promise<T> =>
  scratchEventually(fn, { until, timeoutMs, everyMs: 100 });
