// Redis topologies of our own, for the tests of REDIS_TOPOLOGY=cluster and =sentinel: a Redis
// Cluster of three masters with a replica each, and a primary with a replica behind three
// sentinels, each process on a spare port and killed (with its folder) at the end. Never the
// machine's Redis on 6379.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { startPrivateRedis, waitForPort, type PrivateRedis } from './faults';
import { freePort } from './processes';
import { sleep } from './wait';

const run = promisify(execFile);

export interface RedisClusterFixture {
  /** Every node, masters first as created (the replicas follow). */
  nodes: PrivateRedis[];
  /** `127.0.0.1:port,...` of every node, for REDIS_CLUSTER_NODES. */
  seeds: string;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<PrivateRedis>;
  /** Until every slot is served and `cluster_state:ok` (after a failover). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Three masters and three replicas (`redis-cli --cluster create --cluster-replicas 1`). A short
 * node timeout, so that a killed master's replica takes over within a few seconds.
 */
export async function startRedisCluster({ nodeTimeoutMs = 1500 } = {}): Promise<RedisClusterFixture> {
  const nodes: PrivateRedis[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      nodes.push(
        await startPrivateRedis(port, {
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            // A replica takes over however long it was cut off from its master.
            '--cluster-replica-validity-factor',
            '0',
          ],
        }),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw err;
  }
  const fixture: RedisClusterFixture = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masterOf(key) {
      for (const node of nodes) {
        const probe = new Redis(node.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        try {
          await probe.connect();
          const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', key));
          const shards = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
          const owner = shards.find(([from, to]) => slot >= from && slot <= to);
          const port = owner?.[2][1];
          const found = nodes.find((n) => n.port === port);
          if (found) return found;
        } catch {
          // a dead node: ask the next
        } finally {
          probe.disconnect();
        }
      }
      throw new Error(`no master found for ${key}`);
    },
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(nodes.map((n) => clusterState(n.port)));
        if (states.every((s) => s === 'ok' || s === 'down-node')) return;
        if (Date.now() > deadline) throw new Error(`cluster not healthy: ${states.join(', ')}`);
        await sleep(200);
      }
    },
    destroy: () => Promise.all(nodes.map((n) => n.destroy())).then(() => undefined),
  };
  await fixture.waitHealthy();
  return fixture;
}

/** `ok`, `fail`, or `down-node` for a node that does not answer (killed on purpose). */
async function clusterState(port: number): Promise<string> {
  const probe = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 500,
  });
  try {
    await probe.connect();
    const info = String(await probe.call('CLUSTER', 'INFO'));
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return 'down-node';
  } finally {
    probe.disconnect();
  }
}

export interface RedisSentinelFixture {
  primary: PrivateRedis;
  replica: PrivateRedis;
  /** `127.0.0.1:port,...` of the three sentinels, for REDIS_SENTINELS. */
  sentinels: string;
  master: string;
  /** The port the sentinels name as primary now. */
  currentPrimaryPort(): Promise<number>;
  destroy(): Promise<void>;
}

/** A primary, its replica and three sentinels (quorum 2) with short failover timeouts. */
export async function startRedisSentinels({ master = 'tether-test', downAfterMs = 1000 } = {}): Promise<RedisSentinelFixture> {
  const primary = await startPrivateRedis();
  const replica = await startPrivateRedis(undefined, { args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const dir = mkdtempSync(join(tmpdir(), 'tether-sentinel-'));
  const sentinels: { port: number; stop: () => Promise<void> }[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${master} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${master} ${downAfterMs}`,
          `sentinel failover-timeout ${master} 10000`,
          `sentinel parallel-syncs ${master} 1`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      await waitForPort(port, 10_000);
      sentinels.push({
        port,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGKILL');
          await exited;
        },
      });
    }
  } catch (err) {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all([primary.destroy(), replica.destroy()]);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const fixture: RedisSentinelFixture = {
    primary,
    replica,
    master,
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async currentPrimaryPort() {
      const probe = new Redis(sentinels[0].port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        const [, port] = (await probe.call('SENTINEL', 'get-master-addr-by-name', master)) as [string, string];
        return Number(port);
      } finally {
        probe.disconnect();
      }
    },
    destroy: async () => {
      await Promise.all(sentinels.map((s) => s.stop()));
      await Promise.all([primary.destroy(), replica.destroy()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // The sentinels must have found the replica before a failover can promote it.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = new Redis(sentinels[0].port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    const replicas = (await probe.call('SENTINEL', 'replicas', master).catch(() => [])) as unknown[];
    probe.disconnect();
    if (replicas.length) break;
    if (Date.now() > deadline) {
      await fixture.destroy();
      throw new Error('the sentinels did not find the replica');
    }
    await sleep(200);
  }
  return fixture;
}
