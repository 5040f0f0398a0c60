import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import type { OutboxEntry } from '../../core/outbox';
import { retryOptions } from '../../core/queue/backoff';
import { queueJob } from '../../core/queue/queue-registry.service';
import { isRedisUnavailableError } from '../../core/redis/redis-errors';
import { RedisService } from '../../core/redis/redis.service';
import { deviceTopics } from './device-topics';
import { DeviceMetrics } from './devices.metrics';
import { DevicesRepository, RemovedSubscriptions, TopicWork } from './devices.repository';
import { TOPIC_SYNC_BATCH, TOPIC_SYNC_DELAY_MS, TOPIC_SYNC_MAX_CALLS } from './devices.constants';
import { DEVICES_QUEUE, JOB_SYNC_TOPICS, JOB_UNSUBSCRIBE, UnsubscribeJob } from './devices.jobs';
import { chunk, PushFailureKind } from './push/push-sender';
import { PushSenders } from './push/push-senders';

export interface TopicCallsResult {
  /** Failure kinds met; any but `token` and `payload` leave work for a retry. */
  failures: Set<PushFailureKind>;
  /** More work than one job takes was found: schedule another. */
  more: boolean;
}

/** While Redis is away, how often a pending topic sync is tried again. */
const RETRY_EVERY_MS = 5000;

interface DeviceState {
  work: TopicWork;
  current: Set<string>;
  failed: boolean;
  dead: boolean;
}

/**
 * Keeps each device's FCM topic subscriptions (its tenant and its user's roles) in line with its
 * row. Registrations only flag the row; a debounced job on the low-rate devices queue does the
 * calls, grouped by topic, at most 1000 tokens per call.
 */
@Injectable()
export class DeviceTopicsService implements OnApplicationShutdown {
  private readonly logger = new Logger(DeviceTopicsService.name);
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly repo: DevicesRepository,
    private readonly senders: PushSenders,
    private readonly metrics: DeviceMetrics,
    private readonly config: AppConfig,
    @InjectQueue(DEVICES_QUEUE) private readonly queue: Queue,
    private readonly redis: RedisService,
  ) {}

  /**
   * scheduleSync for a request (a registration): with Redis away the request still succeeds, as
   * its device row is written and flagged; the job is enqueued once Redis answers again (tried
   * here every few seconds; the maintenance job is the backstop if this process ends first).
   */
  async scheduleSyncSoon(): Promise<void> {
    try {
      await this.redis.within(this.scheduleSync(), undefined, 'topic sync enqueue');
    } catch (err) {
      if (!isRedisUnavailableError(err)) throw err;
      this.retryLater();
    }
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.logger.warn('Redis is away: topic subscriptions of new registrations are scheduled once it answers');
    this.retryTimer = setInterval(() => {
      this.scheduleSync().then(
        () => this.onApplicationShutdown(),
        () => undefined,
      );
    }, RETRY_EVERY_MS);
    this.retryTimer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Registrations within TOPIC_SYNC_DELAY_MS share one job, which runs after the window closes. */
  async scheduleSync(delay = TOPIC_SYNC_DELAY_MS): Promise<void> {
    await this.queue.add(
      JOB_SYNC_TOPICS,
      {},
      {
        delay,
        deduplication: { id: JOB_SYNC_TOPICS, ttl: Math.max(1, delay) },
        ...retryOptions(this.config.push.retryAttempts, this.config.push.retryBaseMs),
      },
    );
  }

  /** Unsubscribes removed devices' tokens from their topics, in jobs of at most 1000 tokens per topic. */
  async unsubscribeLater(removed: RemovedSubscriptions[]): Promise<void> {
    const jobs = this.unsubscribeJobs(removed);
    if (!jobs.length) return;
    const opts = retryOptions(this.config.push.retryAttempts, this.config.push.retryBaseMs);
    await this.queue.addBulk(jobs.map((data) => ({ name: JOB_UNSUBSCRIBE, data, opts })));
  }

  /** The same jobs as outbox rows, for a caller's transaction (a device deleted by its owner). */
  unsubscribeEntries(tenantId: string, removed: RemovedSubscriptions[]): OutboxEntry[] {
    const opts = retryOptions(this.config.push.retryAttempts, this.config.push.retryBaseMs);
    return this.unsubscribeJobs(removed).map((data) => queueJob(tenantId, DEVICES_QUEUE, JOB_UNSUBSCRIBE, data, opts));
  }

  /** One job per provider and topic, of at most 1,000 tokens each. */
  private unsubscribeJobs(removed: RemovedSubscriptions[]): UnsubscribeJob[] {
    const byTopic = new Map<string, UnsubscribeJob>();
    for (const r of removed) {
      for (const topic of r.topics) {
        const key = `${r.provider}\u0000${topic}`;
        const job = byTopic.get(key) ?? { provider: r.provider, topic, tokens: [] };
        job.tokens.push(r.token);
        byTopic.set(key, job);
      }
    }
    return [...byTopic.values()].flatMap((j) => chunk(j.tokens, 1000).map((tokens) => ({ ...j, tokens })));
  }

  /** One round of subscription work (see the class comment). */
  async syncPending(): Promise<TopicCallsResult> {
    const work = await this.repo.pendingTopicWork(TOPIC_SYNC_BATCH);
    const states: DeviceState[] = work.map((w) => ({ work: w, current: new Set(w.topics), failed: false, dead: false }));
    const groups = new Map<string, { provider: string; topic: string; subscribe: boolean; items: DeviceState[] }>();
    const addTo = (state: DeviceState, topic: string, subscribe: boolean) => {
      const key = `${state.work.provider}\u0000${topic}\u0000${subscribe}`;
      const group = groups.get(key) ?? { provider: state.work.provider, topic, subscribe, items: [] };
      group.items.push(state);
      groups.set(key, group);
    };
    for (const state of states) {
      // A provider without topics (Expo) has nothing to subscribe to.
      const usesTopics = this.senders.for(state.work.provider).supportsTopics;
      const desired = new Set(usesTopics ? deviceTopics(state.work.tenantId, state.work.roles) : []);
      for (const topic of desired) if (!state.current.has(topic)) addTo(state, topic, true);
      for (const topic of state.current) if (!desired.has(topic)) addTo(state, topic, false);
    }

    const failures = new Set<PushFailureKind>();
    let calls = 0;
    let more = work.length === TOPIC_SYNC_BATCH;
    for (const group of groups.values()) {
      if (calls >= TOPIC_SYNC_MAX_CALLS) {
        group.items.forEach((s) => (s.failed = true));
        more = true;
        continue;
      }
      calls++;
      const sender = this.senders.for(group.provider);
      const tokens = group.items.map((s) => s.work.token);
      const outcomes = group.subscribe ? await sender.subscribe(group.topic, tokens) : await sender.unsubscribe(group.topic, tokens);
      const op = group.subscribe ? 'subscribe' : 'unsubscribe';
      outcomes.forEach((outcome, i) => {
        const state = group.items[i];
        this.metrics.topicOperations.inc({ op, result: outcome.ok ? 'ok' : outcome.kind });
        if (outcome.ok) {
          if (group.subscribe) state.current.add(group.topic);
          else state.current.delete(group.topic);
          return;
        }
        failures.add(outcome.kind);
        if (outcome.kind === 'token') state.dead = true;
        else if (outcome.kind === 'payload') this.logger.warn(`topic ${op} ${group.topic} refused for one token: ${outcome.code}`);
        else state.failed = true;
      });
    }

    const dead = states.filter((s) => s.dead).map((s) => s.work.id);
    const deactivated = await this.repo.deactivate(dead, 'topic: token not registered');
    if (deactivated) this.metrics.deactivated.inc({ reason: 'topic-subscription' }, deactivated);
    await this.repo.saveTopicProgress(
      states
        .filter((s) => !s.dead)
        .map((s) => ({ id: s.work.id, tenantId: s.work.tenantId, roles: s.work.roles, topics: [...s.current].sort(), done: !s.failed })),
    );
    return { failures, more };
  }

  /** Runs an unsubscribe job; returns the tokens to retry (dead tokens need no unsubscribing). */
  async unsubscribe(job: UnsubscribeJob): Promise<{ retry: string[]; failures: Set<PushFailureKind> }> {
    const outcomes = await this.senders.for(job.provider).unsubscribe(job.topic, job.tokens);
    const failures = new Set<PushFailureKind>();
    const retry: string[] = [];
    outcomes.forEach((outcome, i) => {
      this.metrics.topicOperations.inc({ op: 'unsubscribe', result: outcome.ok ? 'ok' : outcome.kind });
      if (outcome.ok || outcome.kind === 'token' || outcome.kind === 'payload') return;
      failures.add(outcome.kind);
      retry.push(job.tokens[i]);
    });
    return { retry, failures };
  }
}
