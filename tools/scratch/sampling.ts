// Sampling other processes from Linux's /proc, the V8 inspector and Redis: memory, CPU, garbage collection.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import WebSocket from 'ws';
import type { NodeProcess } from './processes';
import { sleep } from './wait';

let clockTicks: number | undefined;
/** Kernel clock ticks per second, the unit of /proc's CPU times (read on first use, not on import). */
const ticksPerSecond = () => (clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100);

/** Resident set size in bytes, from /proc/<pid>/status. */
export function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) of a process so far, in seconds, from /proc/<pid>/stat; 0 if it is gone or not ours to read. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return 0;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return (user + nice + system + irq + softirq + (steal || 0)) / ticksPerSecond();
}

/** A full GC in another node process, over the DevTools protocol (its `--inspect` URL). */
export function collectGarbage(inspectorUrl: string | undefined): Promise<void> {
  if (!inspectorUrl) return Promise.reject(new Error('the process has no inspector URL (start it with --inspect)'));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(inspectorUrl);
    const timer = setTimeout(() => ws.terminate(), 20_000);
    ws.once('open', () => {
      ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    });
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { id?: number }).id !== 1) return;
      clearTimeout(timer);
      ws.close();
      resolve();
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error(`inspector ${inspectorUrl} closed early`)));
  });
}

/**
 * RSS of each process at rest: a full GC first (through its inspector), so that garbage from boot
 * or from a burst of work does not count as memory held, then VmRSS; `settleMs` before and after.
 */
export async function rssAfterGc(procs: NodeProcess[], settleMs: number): Promise<number[]> {
  await sleep(settleMs);
  await Promise.all(procs.map((p) => collectGarbage(p.inspector())));
  await sleep(settleMs);
  return procs.map((p) => rss(p.pid));
}

/** The Redis server's pid when it runs on this machine (to read its CPU), else undefined. */
export async function localRedisPid(redisUrl: string): Promise<number | undefined> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    return pid && cpuSeconds(pid) > 0 ? pid : undefined;
  } finally {
    redis.disconnect();
  }
}

/** Keys under `prefix` (with their MEMORY USAGE) and the pub/sub channels (classic and sharded) named with it. */
export async function redisFootprint(redisUrl: string, prefix: string): Promise<{ keys: number; bytes: number; channels: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    let keys = 0;
    let bytes = 0;
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      const pipeline = redis.pipeline();
      for (const key of batch) pipeline.memory('USAGE', key);
      for (const [, usage] of (await pipeline.exec()) ?? []) bytes += Number(usage ?? 0);
      keys += batch.length;
      cursor = next;
    } while (cursor !== '0' && ++rounds < 100_000);
    const classic = (await redis.pubsub('CHANNELS', `${prefix}*`)) as string[];
    const sharded = (await redis.call('PUBSUB', 'SHARDCHANNELS', `${prefix}*`).catch(() => [])) as string[];
    return { keys, bytes, channels: classic.length + sharded.length };
  } finally {
    redis.disconnect();
  }
}
