import { DeliveryAcks } from './acks';
import type { Clock } from './context';
import { TetherHttpError } from './errors';
import type { HttpClient } from './http';
import type { EventMeta, Subscription, Subscriptions } from './subscriptions';

export interface PollingOptions {
  /** Between two rounds over every subscribed channel (default 30 s). */
  intervalMs?: number;
  /** Consecutive failed socket connects before polling starts (default 3; a connect timeout starts it at once). */
  afterFailures?: number;
}

interface EventsPage {
  channel: string;
  events: { event: string; data: unknown; offset: string; timestamp?: string; deliveryId?: string }[];
  recovered: boolean;
  offset: string;
  hasMore: boolean;
}

/**
 * The fallback while the socket cannot connect: `GET /realtime/events` for every subscribed
 * channel from its offset, the same events handed to the same handlers, offsets advanced and
 * persisted. `stop()` makes every poll in flight drop its answer, so the socket's resubscribe
 * (with the offsets polling reached) takes over with no duplicate and no gap.
 */
export class Poller {
  private controller?: AbortController;
  /** Polled events are acknowledged over HTTP (`POST /deliveries/ack`), best effort. */
  private readonly acks: DeliveryAcks;

  constructor(
    private readonly http: HttpClient,
    private readonly subs: Subscriptions,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly deliver: (event: string, payload: unknown, meta: EventMeta) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.acks = new DeliveryAcks((ids) => http.post('/deliveries/ack', { ids }), clock, undefined, onError);
  }

  get active(): boolean {
    return !!this.controller;
  }

  /** Polls every channel at once, then every `intervalMs`. */
  start(): void {
    if (this.controller) return;
    const controller = (this.controller = new AbortController());
    void this.loop(controller.signal);
  }

  stop(): void {
    this.controller?.abort();
    this.controller = undefined;
  }

  /** One round now (a channel subscribed while polling does not wait for the next interval). */
  poke(): void {
    const signal = this.controller?.signal;
    if (signal) void this.round(signal);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const waits = await this.round(signal);
      // A 429 (or 503) with Retry-After: the next round waits at least that long.
      await this.clock.sleep(Math.max(this.intervalMs, ...waits), signal);
    }
  }

  private round(signal: AbortSignal): Promise<number[]> {
    return Promise.all(this.subs.pollable().map((sub) => this.poll(sub, signal)));
  }

  /** Resolves with how long the server asked to wait (0 when it did not). */
  private async poll(sub: Subscription, signal: AbortSignal, renewedToken = false): Promise<number> {
    // Follows `hasMore` at once; stops as soon as the socket takes over or the channel is left.
    while (!signal.aborted && sub.state !== 'closed') {
      let page: EventsPage;
      try {
        await this.subs.loaded;
        const token = await sub.channelToken(renewedToken);
        page = await this.http.get<EventsPage>('/realtime/events', {
          // Before any offset is known, the server's current position (not the phone's clock, which may be off):
          // what comes after it is what this subscription receives, as a socket subscribe would.
          query: { channel: sub.channel, since: sub.offset, limit: sub.offset ? 100 : 1 },
          headers: token ? { 'X-Channel-Token': token } : undefined,
        });
      } catch (err) {
        if (signal.aborted) return 0;
        const http = err instanceof TetherHttpError ? err : undefined;
        const reason = http?.status === 403 ? /: (\w+)$/.exec(http.message)?.[1] : undefined;
        if (reason === 'token_expired' && !renewedToken) return this.poll(sub, signal, true);
        if (reason || http?.status === 400) {
          sub.state = 'rejected';
          sub.reason = reason ?? http!.code;
          sub.dispatch('rejected', sub.reason);
        } else this.onError(err);
        return http?.retryAfterMs ?? 0;
      }
      // Ignored once stopped: the socket's resubscribe already went out with the offsets as they were.
      if (signal.aborted || (sub.state as string) === 'closed') return 0;
      const first = !sub.offset;
      if (first) this.subs.advance(sub.channel, page.offset, false);
      if (sub.state !== 'subscribed') {
        // Served (by polling now): what `subscribed` says after a socket's subscribe ack too.
        sub.state = 'subscribed';
        sub.reason = undefined;
        const ack = {
          subscribed: [sub.channel],
          rejected: [],
          offsets: { [sub.channel]: page.offset },
          recovered: { [sub.channel]: first || page.recovered },
        };
        sub.dispatch('subscribed', ack);
      }
      if (first) continue;
      if (!page.recovered) sub.dispatch('gap');
      for (const e of page.events) {
        const meta: EventMeta = { channel: sub.channel, offset: e.offset };
        if (e.deliveryId) {
          meta.deliveryId = e.deliveryId;
          this.acks.add(e.deliveryId);
        }
        this.deliver(e.event, e.data, meta);
      }
      if (page.offset) this.subs.advance(sub.channel, page.offset, !page.recovered);
      if (!page.hasMore) return 0;
    }
    return 0;
  }
}
