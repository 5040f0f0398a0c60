/** The columns of a recorded row, as OutboxService publishes it (RETURNING and SELECT lists over `outbox`). */
export const ROW_COLUMNS = `id::text AS id, tenant_id AS "tenantId", kind, channel_key AS "channelKey",
  channel_seq::text AS "channelSeq", payload, attempts`;

/**
 * Common table expressions that record outbox rows inside a caller's statement, so that a write
 * done in one statement (messaging's send) stays one statement. `source` is a SELECT with the
 * columns `ord` (order within the statement), `tenant_id`, `kind`, `channel_key` (null: no channel)
 * and `payload` (jsonb). Rows of one channel get the channel's next sequence numbers: the upsert on
 * outbox_channels holds that channel's row lock until the commit, so sequences follow commit order.
 * Channels are locked in key order (no deadlock between two writers of the same channels).
 * The CTE named `name` returns the recorded rows (ROW_COLUMNS).
 */
export function recordCtes(name: string, source: string): string {
  return `${name}_in AS (${source}),
  ${name}_ch AS (
    INSERT INTO outbox_channels (channel_key, last_seq)
    SELECT channel_key, count(*) FROM ${name}_in WHERE channel_key IS NOT NULL GROUP BY channel_key ORDER BY channel_key
    ON CONFLICT (channel_key) DO UPDATE SET last_seq = outbox_channels.last_seq + EXCLUDED.last_seq
    RETURNING channel_key, last_seq),
  ${name} AS (
    INSERT INTO outbox (tenant_id, kind, channel_key, channel_seq, payload)
    SELECT i.tenant_id, i.kind, i.channel_key,
           c.last_seq - count(*) OVER w + row_number() OVER (w ORDER BY i.ord),
           i.payload
      FROM ${name}_in i LEFT JOIN ${name}_ch c ON c.channel_key = i.channel_key
    WINDOW w AS (PARTITION BY i.channel_key)
    ORDER BY i.ord
    RETURNING ${ROW_COLUMNS})`;
}

/** The recorded rows of `recordCtes(name, ...)` as one JSON array column, in id order. */
export function recordedJson(name: string): string {
  return `(SELECT COALESCE(json_agg(o ORDER BY o.id::bigint), '[]'::json) FROM ${name} o)`;
}
