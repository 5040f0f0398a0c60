import { ClientContext } from './context';
import { Emitter } from './emitter';
import { TetherHttpError } from './errors';
import { uuid } from './ids';

export type MutationKind = 'checkins' | 'rsvps';

/** A queued item as persisted under `mutations`; `request` items are plain requests sent with `Idempotency-Key: offlineId`. */
export interface QueuedMutation {
  offlineId: string;
  kind: MutationKind | 'request';
  /** A bulk item (without offlineId), or `{method, path, body}` for a request. */
  payload: Record<string, unknown>;
  createdAt: number;
}

/**
 * The outcome of one item, once final. `created`/`updated`/`duplicate` (and `sent` for plain
 * requests) were applied; `conflict` and `rejected` were NOT, and the item has left the queue: the
 * app decides (merge with `server` and enqueue again, or tell the user).
 */
export interface MutationResult {
  offlineId: string;
  kind: QueuedMutation['kind'];
  status: 'created' | 'updated' | 'duplicate' | 'conflict' | 'rejected' | 'sent';
  payload: Record<string, unknown>;
  id?: string;
  serverVersion?: number;
  originalStatus?: string;
  server?: unknown;
  error?: { code: string; message?: string; retryable?: boolean; details?: unknown };
  /** A plain request's response body. */
  response?: unknown;
}

export interface QueueStatus {
  count: number;
  /** True while a request is on its way (not while waiting on backoff). */
  processing: boolean;
}

export interface MutationQueueOptions {
  /** Most items kept; enqueueing beyond drops the oldest (`dropped`, reason `max_items`). Default 100. */
  maxItems?: number;
  /** Items older than this are dropped before sending (`dropped`, reason `max_age`). Default 24 h. */
  maxAgeMs?: number;
  /** Items per bulk request, at most 500 (the server's limit). */
  batchSize?: number;
  conflictResolution?: 'last-write-wins' | 'fail-on-conflict';
  /** Backoff after a failed attempt: from this, doubling with jitter, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

type Events = {
  result: (result: MutationResult) => void;
  dropped: (drop: { item: QueuedMutation; reason: 'max_items' | 'max_age' }) => void;
  status: (status: QueueStatus) => void;
  error: (err: unknown) => void;
};

const KEY = 'mutations';
const PATHS: Record<MutationKind, string> = { checkins: '/sync/checkins/bulk', rsvps: '/sync/events/rsvp/bulk' };

/**
 * The offline mutation queue: persisted, sent in order (consecutive items of one kind in one bulk
 * request), each item resent with the same offlineId until it has a result.
 */
export class MutationQueue extends Emitter<Events> {
  /** Resolves once the persisted queue is loaded (enqueue works before; sending waits for it). */
  readonly ready: Promise<void>;
  private items: QueuedMutation[] = [];
  private readonly o: Required<MutationQueueOptions>;
  private started = false;
  private pass?: Promise<void>;
  private wait?: AbortController;
  private failures = 0;
  private last = '';
  private offReachable?: () => void;

  constructor(
    private readonly ctx: ClientContext,
    options: MutationQueueOptions = {},
  ) {
    super();
    this.o = {
      maxItems: 100,
      maxAgeMs: 86_400_000,
      conflictResolution: 'last-write-wins',
      initialDelayMs: 1000,
      maxDelayMs: 60_000,
      ...options,
      batchSize: Math.min(500, options.batchSize ?? 500),
    };
    this.ready = ctx.store
      .get<QueuedMutation[]>(KEY)
      .catch(() => undefined)
      .then((stored) => {
        this.items = [...(stored ?? []), ...this.items];
        this.cap();
      });
  }

  get status(): QueueStatus {
    return { count: this.items.length, processing: !!this.pass && !this.wait };
  }

  /** Queues a bulk item and returns its offlineId at once (persisted asynchronously, in order). */
  enqueue(kind: MutationKind, payload: Record<string, unknown>): string {
    return this.add(kind, payload);
  }

  /** Queues a plain request; its `Idempotency-Key` (the returned id) is fixed now and sent on every attempt. */
  enqueueRequest(method: string, path: string, body?: unknown): string {
    return this.add('request', { method, path, body });
  }

  start(): void {
    this.started = true;
    this.offReachable ??= this.ctx.socket.onReachable(() => this.kick(true));
    this.kick(false);
  }

  stop(): void {
    this.started = false;
    this.offReachable?.();
    this.offReachable = undefined;
    this.wait?.abort();
  }

  /** Sends what is queued; resolves when the queue is empty or the next attempt waits on backoff. */
  async flush(): Promise<void> {
    await this.ready;
    this.kick(false, true);
    while (this.status.processing) await new Promise((resolve) => this.once('status', resolve));
  }

  private add(kind: QueuedMutation['kind'], payload: Record<string, unknown>): string {
    const item = { offlineId: uuid(), kind, payload, createdAt: this.ctx.clock.now() };
    this.items.push(item);
    this.cap();
    this.kick(false);
    return item.offlineId;
  }

  private cap(): void {
    while (this.items.length > this.o.maxItems) this.emit('dropped', { item: this.items.shift()!, reason: 'max_items' });
    this.save();
  }

  private save(): void {
    void this.ready.then(() => this.ctx.store.set(KEY, this.items)).catch((err) => this.emit('error', err));
    this.report();
  }

  private report(): void {
    const status = this.status;
    const text = JSON.stringify(status);
    if (text === this.last) return;
    this.last = text;
    this.emit('status', status);
  }

  /** Starts a pass unless one runs; `now` cuts a backoff wait short (the server may be reachable again). */
  private kick(now: boolean, force = false): void {
    if (!this.started && !force) return;
    if (this.pass) {
      if (now) this.wait?.abort();
      return;
    }
    this.pass = this.run(force)
      .catch((err) => this.emit('error', err))
      .finally(() => {
        this.pass = undefined;
        this.report();
        // An item enqueued as the pass ended.
        if (this.items.length && this.started && !this.wait) this.kick(false);
      });
    this.report();
  }

  /** Sends batch after batch until the queue is empty, a failure waits on backoff, or stop() (unless flushing). */
  private async run(force: boolean): Promise<void> {
    await this.ready;
    for (;;) {
      if (!this.started && !force) return;
      const now = this.ctx.clock.now();
      const expired = this.items.filter((i) => now - i.createdAt > this.o.maxAgeMs);
      if (expired.length) {
        this.items = this.items.filter((i) => !expired.includes(i));
        for (const item of expired) this.emit('dropped', { item, reason: 'max_age' });
        this.save();
      }
      const head = this.items[0];
      if (!head) return;
      const batch = [head];
      if (head.kind !== 'request')
        for (const item of this.items.slice(1, this.o.batchSize)) {
          if (item.kind !== head.kind) break;
          batch.push(item);
        }
      const retryAfter = await this.send(batch);
      if (retryAfter === undefined) {
        this.failures = 0;
        continue;
      }
      if (!this.started) return; // a flush of a stopped queue ends at the first failure
      const base = Math.min(this.o.maxDelayMs, this.o.initialDelayMs * 2 ** this.failures++);
      this.wait = new AbortController();
      this.report();
      await this.ctx.clock.sleep(Math.max(retryAfter, base / 2 + (Math.random() * base) / 2), this.wait.signal);
      this.wait = undefined;
      this.report();
    }
  }

  /** Sends one batch and settles its items; returns a delay (ms, maybe 0) when it must be tried again later. */
  private async send(batch: QueuedMutation[]): Promise<number | undefined> {
    const head = batch[0];
    let results: Omit<MutationResult, 'kind' | 'payload'>[];
    try {
      if (head.kind === 'request') {
        const { method, path, body } = head.payload as { method: string; path: string; body?: unknown };
        const response = await this.ctx.http.request(method, path, { body, idempotencyKey: head.offlineId });
        results = [{ offlineId: head.offlineId, status: 'sent', response }];
      } else {
        const items = batch.map((i) => ({ ...i.payload, offlineId: i.offlineId }));
        const body = { conflictResolution: this.o.conflictResolution, [head.kind]: items };
        results = (await this.ctx.http.post<{ results: typeof results }>(PATHS[head.kind], body)).results;
      }
    } catch (err) {
      // Final only when the server refused the request itself (4xx other than 401/429/in progress).
      if (!(err instanceof TetherHttpError) || err.retryable || err.status === 401)
        return err instanceof TetherHttpError ? (err.retryAfterMs ?? 0) : 0;
      const error = { code: err.code, message: err.message, details: err.details };
      results = batch.map((i) => ({ offlineId: i.offlineId, status: err.status === 409 ? 'conflict' : 'rejected', error }));
    }
    const done = new Map<string, MutationResult>();
    let again = false;
    for (const item of batch) {
      const r = results?.find((x) => x.offlineId === item.offlineId);
      if (!r || (r.status === 'rejected' && (r.error?.retryable || r.error?.code === 'retry_later'))) again = true;
      else done.set(item.offlineId, { ...r, kind: item.kind, payload: item.payload });
    }
    if (done.size) {
      this.items = this.items.filter((i) => !done.has(i.offlineId));
      this.save();
      for (const r of done.values()) this.emit('result', r);
    }
    return again ? 0 : undefined;
  }
}
