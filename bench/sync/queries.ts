export const NIL_ID = '00000000-0000-0000-0000-000000000000';

/** The keyset page of the change feed, as a bare implementation would write it (rows as pg returns them). */
export const RAW_PAGE_SQL = `
  SELECT r.id, r.title, r.description, r.location, r.starts_at, r.ends_at, r.capacity, r.visibility, r.version,
         r.created_at, r.updated_at, r.sync_xid
    FROM community_events r
   WHERE r.tenant_id = $1 AND (r.sync_xid, r.id) > ($2::bigint, $3::uuid)
     AND r.sync_xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
   ORDER BY r.sync_xid, r.id
   LIMIT $4`;

/** Loads `count` events for one tenant in one transaction (the sync trigger is off during the load: sync_xid is set here). */
export const LOAD_EVENTS_SQL = `
  INSERT INTO community_events (id, tenant_id, title, description, location, starts_at, ends_at, capacity, visibility, created_by, sync_xid)
  SELECT gen_random_uuid(), $1, 'Event ' || g, 'Description of event ' || g || ', with a few words of text about it',
         'Hall ' || (g % 12), now() + make_interval(mins => g), now() + make_interval(mins => g + 120),
         CASE WHEN g % 3 = 0 THEN NULL ELSE 50 + g % 200 END, 'public', 'bench-admin', pg_current_xact_id()::text::bigint
    FROM generate_series($2::int, $3::int) g`;
