import type { SyncCollectionDefinition } from './sync.registry';

/** An ISO-8601 UTC text with milliseconds (`2025-11-22T20:34:00.123Z`), as JavaScript prints dates. */
export function isoSql(expr: string): string {
  return `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** How a field is written into a JSON document. */
export type JsonKind = 'text' | 'uuid' | 'number' | 'boolean' | 'timestamp' | 'json';
export type JsonField = [key: string, expr: string, kind: JsonKind];

/**
 * SQL building a compact JSON object (text) from typed fields: a concatenation, which PostgreSQL
 * evaluates several times faster than json_build_object on the feed's hot path. Strings and
 * arrays go through to_json (proper escaping); NULL becomes null.
 */
export function jsonObjectSql(fields: JsonField[]): string {
  if (!fields.length) return `'{}'`;
  const parts = fields.map(([key, expr, kind], i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`JSON key "${key}" must be a plain word`);
    const value =
      kind === 'text' || kind === 'json'
        ? `to_json(${expr})::text`
        : kind === 'uuid'
          ? `'"' || (${expr})::text || '"'`
          : kind === 'timestamp'
            ? `'"' || ${isoSql(expr)} || '"'`
            : `(${expr})::text`;
    return `'${i ? ',' : '{'}"${key}":' || coalesce(${value}, 'null')`;
  });
  return `(${parts.join(' || ')} || '}')`;
}

/** `{tenant}` and `{user}` in a domain's snippet become the page query's parameters. */
function bind(snippet: string): string {
  if (/\$\d/.test(snippet)) throw new Error(`sync SQL snippets use {tenant} and {user}, not positional parameters: ${snippet}`);
  return snippet.replaceAll('{tenant}', '$1').replaceAll('{user}', '$2');
}

/**
 * One page of a collection's change feed for one caller, as one statement (one snapshot).
 *
 * Parameters: $1 tenant, $2 user, $3/$4 the cursor key (xid, id), $5 page size + 1,
 * $6 the initial-sync base (NULL on the first page of an initial sync, 0 for incremental),
 * $7 the collection name (for its purge watermark).
 *
 * Keys are `(transaction id, row id)`. The rows of the table are keyed by the transaction that last
 * wrote them; a change of access (an invite, a member's roles) keys the rows it opens or closes by
 * the transaction that changed the access. Only keys below the watermark
 * `pg_snapshot_xmin(pg_current_snapshot())` are served: every transaction with a smaller id has
 * finished, and a transaction that has not yet written will get a larger id, so nothing can later
 * commit behind a cursor. Each row comes back as `u` (visible: its document), `d` (deleted, or
 * no longer visible) or `s` (gone before an initial sync began: the client never had it).
 * The statement always returns one row, carrying the watermark and the collection's purge mark
 * even when the page is empty.
 */
// A scalar subquery (an InitPlan parameter), so that the bound is an index condition: while an old
// transaction holds the watermark back, a pull stops at it instead of filtering every newer row.
const WM = '(SELECT w.wm FROM w)';

export function pageSql(def: SyncCollectionDefinition): string {
  const cols = [...new Set(['id', ...def.columns])].map((c) => `r.${c}`).join(', ');
  const vis = `(r.deleted_at IS NULL AND (${bind(def.visibleTo)}))`;
  const branches = [
    `(SELECT r.sync_xid AS x, ${vis} AS vis, ${cols}
        FROM ${def.table} r
       WHERE r.tenant_id = $1 AND (r.sync_xid, r.id) > ($3::bigint, $4::uuid) AND r.sync_xid < ${WM}
       ORDER BY r.sync_xid, r.id LIMIT $5)`,
  ];
  for (const a of def.access ?? []) {
    const ax = `a.${a.xidColumn}`;
    const common = `a.tenant_id = $1 AND a.${a.userColumn} = $2 AND ${ax} < ${WM} AND ${ax} >= coalesce($6::bigint, ${WM})`;
    if (a.targetColumn)
      branches.push(`(SELECT ${ax} AS x, ${vis} AS vis, ${cols}
          FROM ${a.table} a JOIN ${def.table} r ON r.id = a.${a.targetColumn} AND r.tenant_id = a.tenant_id
         WHERE ${common} AND (${ax}, a.${a.targetColumn}) > ($3::bigint, $4::uuid)
         ORDER BY ${ax}, a.${a.targetColumn} LIMIT $5)`);
    else
      // `${ax} >= $3` on its own lets the planner skip the join when the access row is old.
      branches.push(`(SELECT ${ax} AS x, ${vis} AS vis, ${cols}
          FROM ${a.table} a JOIN ${def.table} r ON r.tenant_id = a.tenant_id AND (${bind(a.affects!)})
         WHERE ${common} AND ${ax} >= $3::bigint AND (${ax}, r.id) > ($3::bigint, $4::uuid)
         ORDER BY ${ax}, r.id LIMIT $5)`);
  }
  return `WITH w AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS wm)
SELECT w.wm::text AS wm, pm.purged::text AS purged, p.x::text AS x, p.id::text AS id, p.kind, p.doc
  FROM w
  LEFT JOIN LATERAL (SELECT max(m.purged_through_xid) AS purged FROM sync_purge_marks m WHERE m.collection = $7) pm ON true
  LEFT JOIN LATERAL (
    SELECT r.x, r.id,
           CASE WHEN r.vis THEN 'u' WHEN r.x < coalesce($6::bigint, w.wm) THEN 's' ELSE 'd' END AS kind,
           CASE WHEN r.vis THEN (${def.serialize})::text END AS doc
      FROM (${branches.join('\n      UNION ALL\n      ')}) r
     ORDER BY r.x, r.id
     LIMIT $5) p ON true
 ORDER BY p.x, p.id`;
}

/** Documents of some rows by id, in the caller's tenant (the server side of bulk conflicts). */
export function docsByIdSql(def: SyncCollectionDefinition): string {
  return `SELECT r.id::text AS id, (${def.serialize})::text AS doc
  FROM ${def.table} r WHERE r.tenant_id = $1 AND r.id = ANY($2::uuid[]) AND r.deleted_at IS NULL`;
}
