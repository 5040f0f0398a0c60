/** What a write asks the outbox to deliver once it has committed. */
export interface OutboxEntry {
  tenantId: string;
  /** The handler that publishes it (registered with OutboxService.register). */
  kind: string;
  /** Tenant + channel (channelKey()) for rows that must reach their channel in commit order. */
  channelKey?: string | null;
  payload: unknown;
}

/** A recorded row, as a handler gets it. */
export interface RecordedRow {
  id: string;
  tenantId: string;
  kind: string;
  channelKey: string | null;
  /** The row's place in its channel (1, 2, ...), gapless in commit order; null without a channel. */
  channelSeq: string | null;
  payload: unknown;
  attempts: number;
}

/**
 * Publishes one row. Idempotent: the fast path and the relay may both run it (the channel log and
 * BullMQ job ids refuse the second). `gap`: an earlier row of the channel is not published yet, try
 * again later. Throws when it could not publish (retried with backoff). `path`: who publishes it,
 * the request that committed it (`fast`) or the relay.
 */
export type OutboxHandler = (row: RecordedRow, path: PublishPath) => Promise<'done' | 'gap'>;

/** Who publishes a row: the request that committed it, right after the commit, or the relay later. */
export type PublishPath = 'fast' | 'relay';

/** The key of a channel in the outbox (ordering and locking only): tenant and channel. */
export function channelKey(tenantId: string, channel: string): string {
  return `${tenantId}|${channel}`;
}
