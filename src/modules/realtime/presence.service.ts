import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import DataLoader from 'dataloader';
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';
import { RealtimeService } from './realtime.service';

export interface PresenceChange {
  tenantId: string;
  userId: string;
  status: 'online' | 'offline';
  lastSeen: string | null;
}

/**
 * Sockets that acknowledge deliveries (the SDK, `auth.ack`) count ACK_UNIT + 1 in the presence
 * hashes, others 1: one number per user tells both whether they are online (above zero) and
 * whether any of their sockets acknowledges (ACK_UNIT or more), and the pods' counting, reaping
 * and restoring stay one HINCRBY per field.
 */
const ACK_UNIT = 1 << 20;

/** How a recipient can be reached now (the push rule of acknowledged delivery). */
export type Reachability = 'offline' | 'acknowledging' | 'online';

/** One user's presence as GET /presence and `presence:follow` answer it. */
export interface PresenceState {
  userId: string;
  status: 'online' | 'offline';
  /** When their last socket left (ISO), or null if unknown or online now. */
  lastSeen: string | null;
}

// Counting connections per user across pods, for the sockets that came or went in one event-loop
// turn. KEYS: users hash (tenant|user -> count), this pod's hash, then one pending-offline key per
// change. ARGV: field, delta per change. Returns {new cluster count, 1 if the user was in the offline
// debounce} per change, flattened.
const CHANGE = `
local out = {}
for i = 1, #ARGV / 2 do
  local field, delta = ARGV[2 * i - 1], ARGV[2 * i]
  local n = redis.call('HINCRBY', KEYS[1], field, delta)
  local mine = redis.call('HINCRBY', KEYS[2], field, delta)
  if mine <= 0 then redis.call('HDEL', KEYS[2], field) end
  if n <= 0 then redis.call('HDEL', KEYS[1], field) n = 0 end
  local pending = 0
  if tonumber(delta) > 0 then pending = redis.call('DEL', KEYS[2 + i]) end
  out[2 * i - 1] = n
  out[2 * i] = pending
end
return out`;

// Removes a (dead or draining) pod's connections from the cluster counts.
// KEYS: users hash, the pod's hash, pods zset. ARGV: pod id. Returns the fields that reached 0.
const REAP = `
local entries = redis.call('HGETALL', KEYS[2])
local gone = {}
for i = 1, #entries, 2 do
  local n = redis.call('HINCRBY', KEYS[1], entries[i], -tonumber(entries[i + 1]))
  if n <= 0 then redis.call('HDEL', KEYS[1], entries[i]) table.insert(gone, entries[i]) end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return gone`;

// Puts this pod's connections back after Redis lost them (restarted empty, or reaped this pod while
// its heartbeat could not reach Redis). KEYS: users hash, this pod's hash. ARGV: field, count, ...
// Idempotent per field: the shared count moves by the difference to what the pod hash says.
const RESTORE = `
for i = 1, #ARGV, 2 do
  local old = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  local n = tonumber(ARGV[i + 1])
  if old ~= n then
    redis.call('HINCRBY', KEYS[1], ARGV[i], n - old)
    redis.call('HSET', KEYS[2], ARGV[i], n)
  end
end
return #ARGV / 2`;

/**
 * Cluster-wide presence. Its keys share one hash tag (`presence`): the scripts and transactions
 * below use several together, so on a Redis Cluster they sit on one node. Each pod counts its connections per user in its own Redis hash and in a
 * shared one; a user is online while the shared count is above zero. Pods heartbeat into a sorted
 * set; any pod reaps pods whose heartbeat is older than REALTIME_POD_TIMEOUT_MS, so the users of a
 * pod that died without cleaning up go offline within that bound plus one heartbeat.
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PresenceService.name);
  readonly podId = randomUUID();
  private readonly redis: Redis;
  private readonly usersKey: string;
  private readonly podsKey: string;
  private readonly socketsKey: string;
  private readonly listeners: ((change: PresenceChange) => void)[] = [];
  private readonly reapers: ((podId: string) => Promise<void>)[] = [];
  private heartbeat?: NodeJS.Timeout;
  private readonly offlineTimers = new Set<NodeJS.Timeout>();
  /** Connects and disconnects of one event-loop turn, sent in one call (see CHANGE). */
  private readonly changes = new DataLoader<{ field: string; delta: number }, [number, number]>((c) => this.sendChanges(c), {
    cache: false,
    batchScheduleFn: (send) => setImmediate(send),
    maxBatchSize: 500,
  });
  /** This pod's connections per user (`tenant|user`), kept in memory too, so Redis can be told again. */
  private readonly local = new Map<string, number>();

  constructor(
    private readonly redisService: RedisService,
    private readonly config: AppConfig,
    private readonly realtime: RealtimeService,
  ) {
    this.redis = redisService.client;
    this.usersKey = redisService.tagged('presence', 'rt', 'presence', 'users');
    this.podsKey = redisService.tagged('presence', 'rt', 'pods');
    this.socketsKey = redisService.tagged('presence', 'rt', 'pods', 'sockets');
  }

  private podKey(podId: string): string {
    return this.redisService.tagged('presence', 'rt', 'pod', podId, 'users');
  }
  private pendingKey(field: string): string {
    return this.redisService.tagged('presence', 'rt', 'presence', 'pending', field);
  }
  private lastSeenKey(tenantId: string): string {
    return this.redisService.tagged('presence', 'rt', 'presence', 'lastseen', tenantId);
  }

  onModuleInit(): void {
    this.redis.defineCommand('tetherPresenceChange', { lua: CHANGE });
    this.redis.defineCommand('tetherPresenceReap', { numberOfKeys: 3, lua: REAP });
    this.redis.defineCommand('tetherPresenceRestore', { numberOfKeys: 2, lua: RESTORE });
    const every = Math.max(1000, Math.floor(this.config.realtime.podTimeoutMs / 4));
    this.heartbeat = setInterval(() => void this.beat().catch((e: Error) => this.logger.warn(`heartbeat: ${e.message}`)), every);
    this.heartbeat.unref();
    void this.beat().catch(() => undefined);
  }

  onChange(listener: (change: PresenceChange) => void): void {
    this.listeners.push(listener);
  }

  async isOnline(tenantId: string, userId: string): Promise<boolean> {
    return (await this.redis.hexists(this.usersKey, `${tenantId}|${userId}`)) === 1;
  }

  /** Which of these users have a live socket on any pod. */
  async onlineUsers(tenantId: string, userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const counts = await this.redis.hmget(this.usersKey, ...userIds.map((u) => `${tenantId}|${u}`));
    return new Set(userIds.filter((_, i) => counts[i] !== null));
  }

  /**
   * Which of these users have no socket (`offline`), at least one acknowledging socket
   * (`acknowledging`), or only sockets that do not acknowledge (`online`).
   */
  async reachability(tenantId: string, userIds: string[]): Promise<Map<string, Reachability>> {
    if (!userIds.length) return new Map();
    const counts = await this.redis.hmget(this.usersKey, ...userIds.map((u) => `${tenantId}|${u}`));
    return new Map(
      userIds.map((u, i) => {
        const n = Number(counts[i] ?? 0);
        return [u, n <= 0 ? 'offline' : n >= ACK_UNIT ? 'acknowledging' : 'online'];
      }),
    );
  }

  /**
   * Several users' presence in one round trip, as `presence:update` reports it: a user whose last
   * socket left is still online during the offline debounce (a network flap is not announced).
   */
  async states(tenantId: string, userIds: string[]): Promise<PresenceState[]> {
    if (!userIds.length) return [];
    const fields = userIds.map((u) => `${tenantId}|${u}`);
    const results = await this.redis
      .multi()
      .hmget(this.usersKey, ...fields)
      .mget(...fields.map((f) => this.pendingKey(f)))
      .hmget(this.lastSeenKey(tenantId), ...userIds)
      .exec();
    const [counts, pending, seen] = (results ?? []).map(([err, value]) => {
      if (err) throw err;
      return value as (string | null)[];
    });
    return userIds.map((userId, i) =>
      counts[i] !== null || pending[i] !== null
        ? { userId, status: 'online', lastSeen: null }
        : { userId, status: 'offline', lastSeen: seen[i] ?? null },
    );
  }

  /** Work to do when a pod's presence is removed (e.g. channel presence), before its users go offline. */
  onReap(reaper: (podId: string) => Promise<void>): void {
    this.reapers.push(reaper);
  }

  async lastSeen(tenantId: string, userId: string): Promise<string | null> {
    return this.redis.hget(this.lastSeenKey(tenantId), userId);
  }

  /** A socket of the user connected on this pod; `acknowledges`: it confirms deliveries (see ACK_UNIT). */
  async connected(tenantId: string, userId: string, acknowledges = false): Promise<void> {
    const field = `${tenantId}|${userId}`;
    const weight = acknowledges ? ACK_UNIT + 1 : 1;
    this.local.set(field, (this.local.get(field) ?? 0) + weight);
    const [count, wasPending] = await this.change(field, weight);
    // 0 -> 1 socket is "online", unless the user was only briefly away (still in the offline debounce).
    if (count % ACK_UNIT === 1 && wasPending === 0) this.emit({ tenantId, userId, status: 'online', lastSeen: null });
  }

  async disconnected(tenantId: string, userId: string, acknowledges = false): Promise<void> {
    const field = `${tenantId}|${userId}`;
    const weight = acknowledges ? ACK_UNIT + 1 : 1;
    const left = (this.local.get(field) ?? weight) - weight;
    if (left > 0) this.local.set(field, left);
    else this.local.delete(field);
    const [count] = await this.change(field, -weight);
    if (count > 0) return;
    const delay = this.config.realtime.presenceOfflineDelayMs;
    if (delay === 0) return this.goOffline(tenantId, userId);
    await this.redis.set(this.pendingKey(field), '1', 'PX', delay * 2);
    const timer = setTimeout(() => {
      this.offlineTimers.delete(timer);
      void this.confirmOffline(tenantId, userId).catch((e: Error) => this.logger.warn(`presence: ${e.message}`));
    }, delay);
    this.offlineTimers.add(timer);
  }

  /** Cluster-wide socket count: the sum of what live pods reported at their last heartbeat. */
  async clusterSockets(): Promise<{ sockets: number; pods: number }> {
    const alive = await this.redis.zrangebyscore(this.podsKey, Date.now() - this.config.realtime.podTimeoutMs, '+inf');
    if (!alive.length) return { sockets: 0, pods: 0 };
    const counts = await this.redis.hmget(this.socketsKey, ...alive);
    return { sockets: counts.reduce((sum, c) => sum + Number(c ?? 0), 0), pods: alive.length };
  }

  /** Refresh this pod's heartbeat and socket count, then reap pods that stopped beating. */
  async beat(): Promise<void> {
    const now = Date.now();
    // Whether Redis still knows this pod (its heartbeat entry, its users hash), read in the same
    // transaction as the heartbeat that re-adds it.
    const [entry, users] = ((await this.redis
      .multi()
      .zscore(this.podsKey, this.podId)
      .exists(this.podKey(this.podId))
      .zadd(this.podsKey, now, this.podId)
      .hset(this.socketsKey, this.podId, this.realtime.localSockets)
      .exec()) ?? []) as [Error | null, unknown][];
    const dead = await this.redis.zrangebyscore(this.podsKey, '-inf', now - this.config.realtime.podTimeoutMs);
    for (const podId of dead) await this.reap(podId);
    await this.restoreIfLost(entry?.[1] == null || users?.[1] !== 1);
  }

  /**
   * This pod has sockets but Redis has no record of them: Redis came back empty, or another pod
   * reaped this one while its heartbeat could not get through. Its users are put back (no event:
   * nobody was told they went offline), so pushes and presence answers see them online again.
   * Told by the pod's heartbeat entry being gone (reaping and a restart both remove it), not by its
   * users hash alone: a socket that connects in between creates that hash again with only itself,
   * and the pod's earlier users would stay offline. Restoring is idempotent per user.
   */
  private async restoreIfLost(lost: boolean): Promise<void> {
    if (!this.local.size || !lost) return;
    const args = [...this.local].flatMap(([field, n]) => [field, n]);
    await (this.redis as RedisWithPresence).tetherPresenceRestore(this.usersKey, this.podKey(this.podId), ...args);
    this.logger.log(`presence of ${this.local.size} users on this pod restored in Redis`);
  }

  /** Removes a pod's presence: called for dead pods, and for this pod when it drains. */
  async reap(podId: string): Promise<void> {
    // This pod leaving: its heartbeat must not put its users back afterwards.
    if (podId === this.podId) {
      clearInterval(this.heartbeat);
      this.local.clear();
    }
    for (const reaper of this.reapers) await reaper(podId).catch((e: Error) => this.logger.warn(`reap ${podId}: ${e.message}`));
    const gone = (await (this.redis as RedisWithPresence).tetherPresenceReap(
      this.usersKey,
      this.podKey(podId),
      this.podsKey,
      podId,
    )) as string[];
    await this.redis.hdel(this.socketsKey, podId);
    if (podId !== this.podId && gone.length) this.logger.log(`reaped pod ${podId}: ${gone.length} users offline`);
    for (const field of gone) {
      const [tenantId, userId] = splitField(field);
      await this.goOffline(tenantId, userId);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const t of this.offlineTimers) clearTimeout(t);
    this.offlineTimers.clear();
  }

  private change(field: string, delta: number): Promise<[number, number]> {
    return this.changes.load({ field, delta });
  }

  /** One script call for the changes of one event-loop turn (a burst of handshakes), in their order. */
  private async sendChanges(changes: readonly { field: string; delta: number }[]): Promise<[number, number][]> {
    const flat = (await (this.redis as RedisWithPresence).tetherPresenceChange(
      2 + changes.length,
      this.usersKey,
      this.podKey(this.podId),
      ...changes.map(({ field }) => this.pendingKey(field)),
      ...changes.flatMap(({ field, delta }) => [field, delta]),
    )) as number[];
    return changes.map((_, i) => [flat[2 * i], flat[2 * i + 1]]);
  }

  private async confirmOffline(tenantId: string, userId: string): Promise<void> {
    const field = `${tenantId}|${userId}`;
    // Only the debounce that is still pending, for a user still at zero, announces offline.
    const pending = await this.redis.del(this.pendingKey(field));
    if (pending === 1 && !(await this.isOnline(tenantId, userId))) await this.goOffline(tenantId, userId);
  }

  private async goOffline(tenantId: string, userId: string): Promise<void> {
    const lastSeen = new Date().toISOString();
    await this.redis.hset(this.lastSeenKey(tenantId), userId, lastSeen);
    this.emit({ tenantId, userId, status: 'offline', lastSeen });
  }

  private emit(change: PresenceChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function splitField(field: string): [string, string] {
  const bar = field.indexOf('|');
  return [field.slice(0, bar), field.slice(bar + 1)];
}

type RedisWithPresence = Redis & {
  tetherPresenceChange(...args: (string | number)[]): Promise<unknown>;
  tetherPresenceReap(...args: (string | number)[]): Promise<unknown>;
  tetherPresenceRestore(...args: (string | number)[]): Promise<unknown>;
};
