import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { TenantScope } from '../../core/database/tenant-scope';
import { RedisService } from '../../core/redis/redis.service';
import { deliveryId, type FallbackWork, type SubjectKind } from './delivery.types';

// A delivery's hash: `d` what to do on timeout (JSON), `t` the commit time (ms), and per recipient
// `u:<user>`: `p` waiting, `a<ms>` acknowledged then, `f` pushed by the fallback.

// KEYS: the hash. ARGV: ttl ms, descriptor, commit ms, users... Registers the users as waiting
// unless a device of theirs acknowledged already (an ack may overtake the registration); returns
// those as {user, ack ms, ...}.
const REGISTER = `
redis.call('HSETNX', KEYS[1], 'd', ARGV[2])
redis.call('HSETNX', KEYS[1], 't', ARGV[3])
local acked = {}
for i = 4, #ARGV do
  local f = 'u:' .. ARGV[i]
  local v = redis.call('HGET', KEYS[1], f)
  if not v then redis.call('HSET', KEYS[1], f, 'p')
  elseif string.sub(v, 1, 1) == 'a' then table.insert(acked, ARGV[i]) table.insert(acked, string.sub(v, 2)) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return acked`;

// KEYS: the hash. ARGV: ttl ms of a hash the ack creates, now ms, user. Returns {what the user's
// state was (p, f, a or ''), the commit ms or ''}. The first acknowledgement of a user is kept;
// later ones change nothing. An ack of a delivery nobody registered (the sender's own echo, a
// replay, or one that overtook its registration) leaves a short-lived hash: REGISTER extends it.
const ACKNOWLEDGE = `
local f = 'u:' .. ARGV[3]
local v = redis.call('HGET', KEYS[1], f) or ''
local state = string.sub(v, 1, 1)
if state ~= 'a' then
  redis.call('HSET', KEYS[1], f, 'a' .. ARGV[2])
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
end
return {state, redis.call('HGET', KEYS[1], 't') or ''}`;

// KEYS: the due set. ARGV: now ms, limit, lease ms. Takes the due deliveries for `lease` ms: a pod
// that dies before finishing leaves them to another after that.
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[3], member) end
return due`;

// KEYS: the hash. Returns {descriptor or '', waiting users...}.
const WAITING = `
local d = redis.call('HGET', KEYS[1], 'd') or ''
local out = {d}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == 'p' and string.sub(all[i], 1, 2) == 'u:' then table.insert(out, string.sub(all[i], 3)) end
end
return out`;

// KEYS: the hash. ARGV: users. Marks those still waiting as pushed.
const PUSHED = `
for i = 1, #ARGV do
  local f = 'u:' .. ARGV[i]
  if redis.call('HGET', KEYS[1], f) == 'p' then redis.call('HSET', KEYS[1], f, 'f') end
end
return 1`;

type RedisWithDelivery = Redis & {
  tetherDeliveryRegister(key: string, ...args: (string | number)[]): Promise<string[]>;
  tetherDeliveryAck(key: string, ...args: (string | number)[]): Promise<[string, string]>;
  tetherDeliveryClaim(key: string, ...args: (string | number)[]): Promise<string[]>;
  tetherDeliveryWaiting(key: string): Promise<string[]>;
  tetherDeliveryPushed(key: string, ...users: string[]): Promise<number>;
};

/** What one acknowledgement changed: see DeliveryTracker.acknowledge. */
export interface AckOutcome {
  /** The user's devices had not acknowledged before: their first. */
  first: boolean;
  /** The user was waiting: this acknowledgement stopped a fallback push. */
  avoidedPush: boolean;
  /** A fallback push had gone out before it. */
  afterPush: boolean;
  /** When the delivery was committed (ms), if it was registered. */
  committedAt?: number;
}

const POLL_EVERY_MS = 200;
const CLAIM_LIMIT = 200;
const LEASE_MS = 30_000;
/** How long an acknowledgement waits for a registration that has not come (a notification's fan-out behind a queue). */
const UNREGISTERED_TTL_MS = 60_000;

/**
 * The waiting side of acknowledged delivery, in Redis so that every pod sees it: which recipients
 * of a message or notification still wait for one of their devices to acknowledge it, and when
 * their fallback push is due. Pods that run workers claim due deliveries (a lease, so a pod killed
 * mid-way leaves them to another) and hand them to the subject's owner (messaging, notifications),
 * which pushes with an idempotency key, so a delivery handled twice never pushes twice.
 */
@Injectable()
export class DeliveryTracker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryTracker.name);
  private readonly redis: RedisWithDelivery;
  private readonly dueKey: string;
  private readonly handlers = new Map<SubjectKind, (work: FallbackWork) => Promise<void>>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  constructor(
    private readonly redisService: RedisService,
    private readonly config: AppConfig,
  ) {
    this.redis = redisService.client as RedisWithDelivery;
    this.dueKey = redisService.key('dlv', 'due');
  }

  get timeoutMs(): number {
    return this.config.delivery.ackTimeoutMs;
  }

  /** Long enough for the fallback, its lease and a late acknowledgement to find the hash. */
  private get ttlMs(): number {
    return this.timeoutMs + LEASE_MS * 2 + 60_000;
  }

  private keyOf(tenantId: string, id: string): string {
    // One hash per delivery, hash-tagged so a Redis Cluster keeps it whole on one node.
    return this.redisService.key('dlv', `{${tenantId}|${id}}`);
  }

  onModuleInit(): void {
    this.redis.defineCommand('tetherDeliveryRegister', { numberOfKeys: 1, lua: REGISTER });
    this.redis.defineCommand('tetherDeliveryAck', { numberOfKeys: 1, lua: ACKNOWLEDGE });
    this.redis.defineCommand('tetherDeliveryClaim', { numberOfKeys: 1, lua: CLAIM });
    this.redis.defineCommand('tetherDeliveryWaiting', { numberOfKeys: 1, lua: WAITING });
    this.redis.defineCommand('tetherDeliveryPushed', { numberOfKeys: 1, lua: PUSHED });
    if (!this.config.runsWorkers) return;
    this.timer = setInterval(() => {
      this.polling ??= this.poll()
        .then(() => undefined)
        .catch((err: Error) => this.logger.warn(`delivery fallbacks: ${err.message}`))
        .finally(() => (this.polling = undefined));
    }, POLL_EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  /** The subject's owner: what to do with recipients none of whose devices acknowledged in time. */
  onTimeout(kind: SubjectKind, handler: (work: FallbackWork) => Promise<void>): void {
    this.handlers.set(kind, handler);
  }

  /**
   * These recipients have acknowledging sockets: wait DELIVERY_ACK_TIMEOUT_MS for one of their
   * devices. Returns the recipients that acknowledged already, with when (ms).
   */
  async wait(work: Omit<FallbackWork, 'userIds'> & { userIds: string[]; committedAt: number }): Promise<Map<string, number>> {
    const key = this.keyOf(work.tenantId, deliveryId(work.kind, work.subjectId));
    const descriptor = JSON.stringify({ tenantId: work.tenantId, kind: work.kind, subjectId: work.subjectId, context: work.context });
    const [acked] = await Promise.all([
      this.redis.tetherDeliveryRegister(key, this.ttlMs, descriptor, work.committedAt, ...work.userIds),
      this.redis.zadd(this.dueKey, work.committedAt + this.timeoutMs, key),
    ]);
    const done = new Map<string, number>();
    for (let i = 0; i < acked.length; i += 2) done.set(acked[i], Number(acked[i + 1]));
    return done;
  }

  /** Records acknowledgements (many in one round trip); one outcome per input, in order. */
  async acknowledge(acks: { tenantId: string; id: string; userId: string; at: number }[]): Promise<AckOutcome[]> {
    if (!acks.length) return [];
    // One script per delivery (each hash may live on another Redis Cluster node); auto-pipelined.
    const answers = await Promise.all(
      acks.map((a) => this.redis.tetherDeliveryAck(this.keyOf(a.tenantId, a.id), UNREGISTERED_TTL_MS, a.at, a.userId)),
    );
    return answers.map(([state, committed]) => ({
      first: state !== 'a',
      avoidedPush: state === 'p',
      afterPush: state === 'f',
      ...(committed ? { committedAt: Number(committed) } : {}),
    }));
  }

  /** One round of the fallback: claims what is due and hands it to the owners. */
  async poll(): Promise<number> {
    const due = await this.redis.tetherDeliveryClaim(this.dueKey, Date.now(), CLAIM_LIMIT, LEASE_MS);
    await Promise.all(due.map((key) => this.fallBack(key)));
    return due.length;
  }

  private async fallBack(key: string): Promise<void> {
    try {
      const [descriptor, ...userIds] = await this.redis.tetherDeliveryWaiting(key);
      if (descriptor && userIds.length) {
        const work = { ...(JSON.parse(descriptor) as Omit<FallbackWork, 'userIds'>), userIds };
        const handler = this.handlers.get(work.kind);
        if (!handler) throw new Error(`no fallback for ${work.kind} deliveries`);
        // As the delivery's tenant (row-level security), whichever pod claimed it.
        await TenantScope.run(work.tenantId, () => handler(work));
        await this.redis.tetherDeliveryPushed(key, ...userIds);
      }
      await this.redis.zrem(this.dueKey, key);
    } catch (err) {
      // Left in the due set: claimed again once the lease runs out.
      this.logger.warn(`fallback push of ${key}: ${(err as Error).message}`);
    }
  }
}
