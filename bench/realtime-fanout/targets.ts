/**
 * The two systems the fan-out benchmark compares, each as a pair of servers on one Redis: Tether
 * (dist/src/main.js) and bare Socket.IO with the same adapter (baseline-server.ts).
 */
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { signDevToken } from '../../src/core/auth/dev-token';
import { freePort, NodeProcess, ScratchWorld, spawnApp, spawnNode, stopChild, waitReady } from '../../tools/scratch';
import { CHANNEL, EVENT, Payload } from './protocol';

export type Mode = 'classic' | 'sharded';
export type TargetName = 'Tether' | 'baseline';
export const TENANT = 'bench-tenant';

export interface Target {
  name: TargetName;
  /** http://127.0.0.1:<port> of each of the two servers. */
  urls: string[];
  servers: NodeProcess[];
  /** Prefix of the Redis keys and pub/sub channels this target's servers use. */
  redisPrefix: string;
  jwtSecret?: string;
  publish(server: number, payload: Payload): Promise<number>;
  stop(): Promise<void>;
}

/** How this run starts its servers. */
export interface ServerSettings {
  world: ScratchWorld;
  jwtSecret: string;
  /** Node flags for all four servers (the inspector, the young generation's size; see run.ts). */
  nodeArgs: string[];
  /** `ulimit -n` the servers need for the clients' sockets, if ours is lower. */
  fdLimit?: number;
}

// One keep-alive agent: the publisher reuses connections, as a backend calling Tether would.
const agent = new Agent({ keepAlive: true });

/** Closes the publisher's kept-alive connections (at the end of the run). */
export const closePublisher = () => agent.destroy();

function post(url: string, body: string, headers: Record<string, string> = {}, retry = true): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', ...headers },
        timeout: 15_000,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('timeout', () => req.destroy(new Error('publish timed out')));
    req.once('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed while idle (between steps) fails on reuse: the
      // documented race of HTTP keep-alive, not a server failure. Send once more on a new one.
      if (retry && req.reusedSocket && err.code === 'ECONNRESET') post(url, body, headers, false).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

/** Two servers, booted one after the other or together, each ready once `readyPath` answers. */
async function startPair(
  boot: (port: number) => NodeProcess,
  readyPath: string,
  together: boolean,
): Promise<{ urls: string[]; servers: NodeProcess[] }> {
  const start = async () => {
    const port = await freePort();
    const server = boot(port);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}${readyPath}`, server);
    return { url, server };
  };
  const pair = together ? await Promise.all([start(), start()]) : [await start(), await start()];
  return { urls: pair.map((p) => p.url), servers: pair.map((p) => p.server) };
}

const stopAll = (servers: NodeProcess[]) => async () => void (await Promise.all(servers.map((s) => stopChild(s.child))));

export async function startBaseline(mode: Mode, settings: ServerSettings): Promise<Target> {
  const redisPrefix = `${settings.world.redisPrefix}-baseline-${mode}`;
  const boot = (port: number) =>
    spawnNode(
      join(__dirname, 'baseline-server.ts'),
      { PORT: String(port), REDIS_URL: settings.world.redisUrl, ADAPTER_PREFIX: `${redisPrefix}:sio`, REALTIME_ADAPTER: mode },
      { tsx: true, nodeArgs: settings.nodeArgs, fdLimit: settings.fdLimit },
    );
  const { urls, servers } = await startPair(boot, '/ready', true);
  return {
    name: 'baseline',
    redisPrefix,
    urls,
    servers,
    publish: (i, payload) => post(`${urls[i]}/publish`, JSON.stringify({ data: payload })),
    stop: stopAll(servers),
  };
}

let migrated = false;

export async function startTether(mode: Mode, settings: ServerSettings): Promise<Target> {
  const { world, jwtSecret } = settings;
  const redisPrefix = `${world.redisPrefix}-${mode}`;
  const boot = (port: number) =>
    spawnApp(
      {
        NODE_ENV: 'development',
        PORT: String(port),
        LOG_LEVEL: 'silent',
        DATABASE_URL: world.db.url,
        DB_AUTO_MIGRATE: 'true',
        REDIS_URL: world.redisUrl,
        REDIS_KEY_PREFIX: redisPrefix,
        MOBILE_JWT_SECRET: jwtSecret,
        JWT_ALGORITHM: 'HS256',
        REALTIME_ADAPTER: mode,
        REALTIME_CONNECTS_PER_MINUTE_PER_IP: '1000000',
        REALTIME_CONNECTS_PER_MINUTE_PER_USER: '1000000',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
      { nodeArgs: settings.nodeArgs, fdLimit: settings.fdLimit },
    );
  // The first boot migrates the fresh database: never two migrators at once.
  const { urls, servers } = await startPair(boot, '/health/ready', migrated);
  migrated = true;
  const auth = `Bearer ${await signDevToken(jwtSecret, { sub: 'bench-publisher', tid: TENANT, roles: ['SERVICE'] }, 3600)}`;
  const broadcast = (data: Payload) => JSON.stringify({ channel: CHANNEL, event: EVENT, data });
  return {
    name: 'Tether',
    redisPrefix,
    urls,
    servers,
    jwtSecret,
    publish: (i, payload) => post(`${urls[i]}/api/mobile/v1/admin/broadcast`, broadcast(payload), { authorization: auth }),
    stop: stopAll(servers),
  };
}
