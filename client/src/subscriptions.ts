import { Backoff } from './backoff';
import type { Clock, JsonStore, SocketLink } from './context';
import { Emitter } from './emitter';
import { jwtExpiry } from './tokens';

/** The second argument of every server event: the channel it was published on and its position there. */
export interface EventMeta {
  channel?: string;
  offset?: string;
  /** On events the client acknowledges (`message:new`, `notification:new`): done by the SDK on receipt. */
  deliveryId?: string;
}

/** The server's answer to `subscribe`. */
export interface SubscribeAck {
  subscribed: string[];
  rejected: { channel: string; reason: string }[];
  offsets: Record<string, string>;
  recovered?: Record<string, boolean>;
  presence?: Record<string, { count: number; members: string[] }>;
}

/** A host-owned channel's subscription token, from the app's backend. */
export type ChannelTokenProvider = () => string | Promise<string>;

export interface SubscribeOptions {
  /** For host-owned channels (`booking:9`, `venue:7`): asked when (re)subscribing and again once after `token_expired`. */
  token?: ChannelTokenProvider;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventHandler = (payload: any, meta: EventMeta) => void;

export type SubscriptionEvents = {
  /** The server could not replay what was missed (`recovered: false`): reload this channel's data over REST. */
  gap: () => void;
  subscribed: (ack: SubscribeAck) => void;
  rejected: (reason: string) => void;
  /** Who has a presence channel open (conversations, REALTIME_PRESENCE_CHANNELS). */
  members: (members: string[]) => void;
} & { [event: string]: EventHandler };

export type SubscriptionState = 'pending' | 'subscribed' | 'rejected' | 'closed';

/** Rejections that may pass on a later attempt (after a reconnect or in polling). */
const TRANSIENT = new Set(['policy_unavailable', 'proxy_unavailable', 'too_many_channels', 'token_expired']);

/** One channel the app listens to; `tether.subscribe(channel)` returns it. */
export class Subscription extends Emitter<SubscriptionEvents> {
  state: SubscriptionState = 'pending';
  /** Why the server refused it, while `state` is 'rejected'. */
  reason?: string;
  members: string[] = [];
  /** @internal the newest offset handed to the app (duplicates at or before it are dropped) */
  delivered?: string;
  /** @internal how many `subscribe` calls share it */
  refs = 1;
  private token?: string;

  /** @internal */
  constructor(
    readonly channel: string,
    private readonly owner: Subscriptions,
    private readonly tokenProvider?: ChannelTokenProvider,
  ) {
    super();
  }

  /** The latest offset seen on this channel (sent as `since` when subscribing again). */
  get offset(): string | undefined {
    return this.owner.offsets[this.channel];
  }

  /** `typing:start` / `typing:stop` on this channel (dropped while the socket is down). */
  typing(active: boolean): void {
    this.owner.typing(this.channel, active);
  }

  /** Leaves the channel once every `subscribe` of it has unsubscribed; its offset is forgotten. */
  unsubscribe(): void {
    if (this.state === 'closed' || --this.refs > 0) return;
    this.owner.remove(this);
  }

  /** @internal */
  dispatch(event: string, ...args: unknown[]): void {
    this.emit(event, ...(args as [never, never]));
  }

  /** @internal the subscription token: cached until it nears expiry, or asked again when `fresh` */
  async channelToken(fresh: boolean): Promise<string | undefined> {
    if (!this.tokenProvider) return undefined;
    const exp = this.token ? jwtExpiry(this.token) : undefined;
    if (fresh || !this.token || (exp !== undefined && exp - 5_000 < Date.now())) this.token = await this.tokenProvider();
    return this.token;
  }

  /** @internal */
  setMembers(members: string[]): void {
    this.members = members;
    this.dispatch('members', [...members]);
  }
}

/**
 * Every subscription of a client: offsets per channel (from each event's meta and from the
 * subscribe ack, persisted under `offsets`), one batched `subscribe` with `since` after every
 * connect, recovery gaps, subscription tokens, channel presence, and delivery of each event once.
 */
export class Subscriptions {
  readonly subs = new Map<string, Subscription>();
  /** channel -> latest offset; persisted under `offsets` (also for channels not subscribed yet in this run). */
  offsets: Record<string, string> = {};
  readonly loaded: Promise<void>;
  private generation = 0;
  private queued = new Set<Subscription>();
  private saveScheduled = false;
  private readonly retry = new Backoff({ initialDelayMs: 1000, maxDelayMs: 30_000 });

  constructor(
    private readonly link: SocketLink,
    private readonly store: JsonStore,
    readonly clock: Clock,
    private readonly ackTimeoutMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.loaded = store.get<Record<string, string>>('offsets').then(
      (saved) => void (this.offsets = { ...saved, ...this.offsets }),
      (err) => onError(err),
    );
  }

  add(channel: string, options: SubscribeOptions = {}): Subscription {
    const existing = this.subs.get(channel);
    if (existing) {
      existing.refs++;
      // Subscribing again to a refused channel asks again.
      if (existing.state === 'rejected' && this.link.connected) this.queue([existing]);
      return existing;
    }
    const sub = new Subscription(channel, this, options.token);
    this.subs.set(channel, sub);
    if (this.link.connected) this.queue([sub]);
    return sub;
  }

  /** @internal */
  remove(sub: Subscription): void {
    sub.state = 'closed';
    this.subs.delete(sub.channel);
    this.queued.delete(sub);
    delete this.offsets[sub.channel];
    this.save();
    if (this.link.connected) this.link.emitWithAck('unsubscribe', { channels: [sub.channel] }, this.ackTimeoutMs).catch(() => undefined);
  }

  /** After every connect: one `subscribe` for every channel, each with its offset as `since`. */
  resubscribe(): void {
    this.generation++;
    this.retry.reset();
    this.queued.clear();
    const subs = [...this.subs.values()].filter((s) => s.state !== 'rejected' || TRANSIENT.has(s.reason!));
    for (const s of subs) s.state = 'pending';
    if (subs.length) this.queue(subs);
  }

  /** The socket went away: whatever was subscribed must be subscribed again. */
  disconnected(): void {
    this.generation++;
    this.queued.clear();
    for (const s of this.subs.values()) if (s.state === 'subscribed') s.state = 'pending';
  }

  /** Channels to poll while the socket is down. */
  pollable(): Subscription[] {
    return [...this.subs.values()].filter((s) => s.state !== 'rejected' || TRANSIENT.has(s.reason!));
  }

  /**
   * Hands an event to its subscription once: the channel is `meta.channel` (or `payload.channel`
   * for typing and member events). Returns false for a duplicate (an offset at or before the
   * newest one delivered), which the caller drops. Replayed events may arrive before the
   * subscribe ack: they are delivered (and advance the offset) all the same.
   */
  deliver(event: string, payload: unknown, meta: EventMeta | undefined): { fresh: boolean; sub?: Subscription } {
    const channel = meta?.channel ?? (payload as { channel?: unknown } | null)?.channel;
    const sub = typeof channel === 'string' ? this.subs.get(channel) : undefined;
    if (!sub) return { fresh: true };
    const offset = meta?.offset;
    if (offset) {
      if (sub.delivered && (compareOffsets(offset, sub.delivered) ?? 1) <= 0) return { fresh: false };
      sub.delivered = offset;
      this.advance(sub.channel, offset);
    }
    const userId = (payload as { userId?: unknown } | null)?.userId;
    if (typeof userId === 'string' && (event === 'member:joined' || event === 'member:left')) {
      const others = sub.members.filter((m) => m !== userId);
      sub.setMembers(event === 'member:joined' ? [...others, userId] : others);
    }
    return { fresh: true, sub };
  }

  /** Moves a channel's offset forward (never back within one epoch) and persists it. */
  advance(channel: string, offset: string, force = false): void {
    const current = this.offsets[channel];
    if (!force && current && (compareOffsets(offset, current) ?? 1) <= 0) return;
    this.offsets[channel] = offset;
    this.save();
  }

  typing(channel: string, active: boolean): void {
    if (this.link.connected)
      this.link.emitWithAck(active ? 'typing:start' : 'typing:stop', { channel }, this.ackTimeoutMs).catch(() => undefined);
  }

  /** Writes the offsets now (also called on close). */
  flush(): Promise<void> {
    this.saveScheduled = false;
    return this.store.set('offsets', this.offsets).catch(this.onError);
  }

  /** One write per burst of events. */
  private save(): void {
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    setTimeout(() => {
      if (this.saveScheduled) void this.flush();
    }, 0);
  }

  /** Subscribes in one request whatever is asked for within the same tick. */
  private queue(subs: Subscription[]): void {
    const first = !this.queued.size;
    for (const s of subs) this.queued.add(s);
    if (!first) return;
    void Promise.resolve().then(() => {
      const batch = [...this.queued].filter((s) => s.state !== 'closed');
      this.queued.clear();
      if (batch.length) void this.send(batch, this.generation, true);
    });
  }

  private async send(subs: Subscription[], generation: number, renewExpired: boolean, fresh = false): Promise<void> {
    await this.loaded;
    const since: Record<string, string> = {};
    const tokens: Record<string, string> = {};
    await Promise.all(
      subs.map(async (s) => {
        if (s.offset) since[s.channel] = s.offset;
        const token = await s.channelToken(fresh).catch(this.onError);
        if (token) tokens[s.channel] = token;
      }),
    );
    if (generation !== this.generation) return;
    let ack: SubscribeAck | { error: { code: string; message?: string } };
    try {
      ack = await this.link.emitWithAck('subscribe', { channels: subs.map((s) => s.channel), since, tokens }, this.ackTimeoutMs);
      if ('error' in ack) throw Object.assign(new Error(ack.error.message ?? ack.error.code), { code: ack.error.code });
    } catch (err) {
      // Timed out, rate limited, Redis away on the pod: the same request again later on this
      // connection (a new connection resubscribes everything anyway).
      if (generation !== this.generation || !this.link.connected) return;
      this.onError(err);
      await this.clock.sleep(this.retry.next());
      if (generation === this.generation) void this.send(subs, generation, renewExpired);
      return;
    }
    if (generation !== this.generation) return;
    this.retry.reset();
    const expired: Subscription[] = [];
    for (const channel of ack.subscribed) {
      const sub = this.subs.get(channel);
      if (!sub || sub.state === 'closed') continue;
      sub.state = 'subscribed';
      sub.reason = undefined;
      const offset = ack.offsets?.[channel];
      const gap = ack.recovered?.[channel] === false;
      // After a gap the ack's offset is where live delivery starts, whatever came before.
      if (offset) this.advance(channel, offset, gap);
      if (gap) sub.dispatch('gap');
      const presence = ack.presence?.[channel];
      if (presence) sub.setMembers(presence.members);
      sub.dispatch('subscribed', ack);
    }
    for (const { channel, reason } of ack.rejected ?? []) {
      const sub = this.subs.get(channel);
      if (!sub || sub.state === 'closed') continue;
      if (reason === 'token_expired' && renewExpired) {
        expired.push(sub);
        continue;
      }
      sub.state = 'rejected';
      sub.reason = reason;
      sub.dispatch('rejected', reason);
    }
    // A subscription token that expired: asked again once, then subscribed in one more request.
    if (expired.length) await this.send(expired, generation, false, true);
  }
}

/**
 * Offsets are `<epoch>.<ms>-<seq>` (a Redis Stream id within one log epoch); undefined when two
 * cannot be compared (another epoch after Redis lost its data, or an unknown format).
 */
export function compareOffsets(a: string, b: string): number | undefined {
  const pa = /^(.*)\.(\d+)-(\d+)$/.exec(a);
  const pb = /^(.*)\.(\d+)-(\d+)$/.exec(b);
  if (!pa || !pb || pa[1] !== pb[1]) return undefined;
  return Number(pa[2]) - Number(pb[2]) || Number(pa[3]) - Number(pb[3]);
}
