import type { Clock } from './context';

/** Ids sent in one `delivery:ack` (the server takes up to 500). */
export const ACK_BATCH = 100;
/** A batch goes out this long after its first id. */
export const ACK_DELAY_MS = 25;
/** Ids remembered as acknowledged, and ids kept while nothing can be sent. */
export const ACK_MEMORY = 1000;

/**
 * Acknowledged delivery: every `deliveryId` received is confirmed to the server, so it pushes only
 * when no device of the user has the event. Ids are sent in batches (after 25 ms or at 100 ids),
 * a replay of an id acknowledged lately is not sent again, and ids that cannot go out now (the
 * socket is down) are kept for `resume()`. An id the server refused, or whose answer never came
 * on a live connection, is dropped: acks are never retried in a loop.
 */
export class DeliveryAcks {
  private readonly pending = new Set<string>();
  /** Acknowledged or on their way, oldest first. */
  private readonly recent = new Set<string>();
  private due?: object;

  constructor(
    private readonly send: (ids: string[]) => Promise<unknown>,
    private readonly clock: Clock,
    /** False while nothing can be sent (the socket is down): ids wait for `resume()`. */
    private readonly ready: () => boolean = () => true,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Ids waiting to be sent. */
  get size(): number {
    return this.pending.size;
  }

  /** On receipt, before the app's handlers: the event's `deliveryId`, if it has one. */
  add(id: unknown): void {
    // Longer than the server takes (200): it would refuse the whole batch.
    if (typeof id !== 'string' || !id || id.length > 200 || this.recent.has(id)) return;
    remember(this.recent, id);
    remember(this.pending, id);
    if (this.pending.size >= ACK_BATCH) this.flush();
    else if (!this.due) {
      const due = (this.due = {});
      void this.clock.sleep(ACK_DELAY_MS).then(() => this.due === due && this.flush());
    }
  }

  /** Sends what waits now (the socket connected again). */
  flush(): void {
    this.due = undefined;
    while (this.pending.size && this.ready()) {
      const ids = [...this.pending].slice(0, ACK_BATCH);
      for (const id of ids) this.pending.delete(id);
      this.send(ids).catch((err) => {
        // Lost with the connection: the next one sends them. Refused or unanswered: dropped.
        if (!this.ready()) for (const id of ids) remember(this.pending, id);
        else {
          for (const id of ids) this.recent.delete(id);
          this.onError(err);
        }
      });
    }
  }
}

/** Adds `id` as the newest of `set`, dropping the oldest beyond ACK_MEMORY. */
function remember(set: Set<string>, id: string): void {
  set.add(id);
  if (set.size > ACK_MEMORY) set.delete(set.values().next().value as string);
}
