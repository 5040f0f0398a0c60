import { MigrationInterface, QueryRunner } from 'typeorm';

/** Columns every synced table carries (see sync_touch() in CreateSync). */
const SYNCED = `
  "created_at" timestamptz NOT NULL DEFAULT now(),
  "updated_at" timestamptz NOT NULL DEFAULT now(),
  "deleted_at" timestamptz,
  "version" integer NOT NULL DEFAULT 1,
  "sync_xid" bigint NOT NULL DEFAULT 0`;

const TABLES = [
  'community_members',
  'community_events',
  'community_event_invites',
  'community_rsvps',
  'community_services',
  'community_checkins',
];

/**
 * The community reference domain: members, events (public or invite-only), invites, RSVPs,
 * services, check-ins, announcements. Every table is tenant-scoped; deletes are soft so the
 * change feed reports them. The two bulk mutation handlers are SQL functions: sync runs them for
 * each item inside that item's savepoint, in one statement per batch.
 */
export class CreateCommunity1763851000000 implements MigrationInterface {
  name = 'CreateCommunity1763851000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "community_members" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "display_name" varchar(200) NOT NULL,
        "roles" text array NOT NULL,
        "status" varchar(16) NOT NULL DEFAULT 'active',
        "access_xid" bigint NOT NULL DEFAULT 0,${SYNCED},
        CONSTRAINT "community_members_pk" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE UNIQUE INDEX "community_members_user_uq" ON "community_members" ("tenant_id", "user_id")`);
    await q.query(`CREATE INDEX "community_members_sync_idx" ON "community_members" ("tenant_id", "sync_xid", "id")`);
    await q.query(`CREATE INDEX "community_members_inactive_idx" ON "community_members" ("tenant_id", "id") WHERE "status" <> 'active'`);
    // Every visibility rule depends on the caller through one predicate: leaders and admins
    // (active, not deleted) see everything of their tenant. Plain SQL without subqueries, so the
    // planner inlines it. When it flips for a member, access_xid moves and the feeds re-evaluate
    // every row that depends on it.
    await q.query(`
      CREATE FUNCTION community_privileged(p_roles text[], p_status text, p_deleted_at timestamptz) RETURNS boolean
      LANGUAGE sql IMMUTABLE AS $$
        SELECT p_deleted_at IS NULL AND p_status = 'active' AND p_roles && ARRAY['LEADER', 'ADMIN']
      $$`);
    await q.query(`
      CREATE FUNCTION community_members_access() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_before boolean := false;
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          v_before := community_privileged(OLD.roles, OLD.status, OLD.deleted_at);
        END IF;
        IF community_privileged(NEW.roles, NEW.status, NEW.deleted_at) IS DISTINCT FROM v_before THEN
          NEW.access_xid := pg_current_xact_id()::text::bigint;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(
      `CREATE TRIGGER "community_members_access" BEFORE INSERT OR UPDATE ON "community_members" FOR EACH ROW EXECUTE FUNCTION community_members_access()`,
    );

    await q.query(`
      CREATE TABLE "community_events" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "title" varchar(200) NOT NULL,
        "description" text,
        "location" varchar(200),
        "starts_at" timestamptz NOT NULL,
        "ends_at" timestamptz,
        "capacity" integer,
        "visibility" varchar(16) NOT NULL DEFAULT 'public',
        "created_by" varchar(128) NOT NULL,${SYNCED},
        CONSTRAINT "community_events_pk" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "community_events_sync_idx" ON "community_events" ("tenant_id", "sync_xid", "id")`);
    await q.query(`CREATE INDEX "community_events_private_idx" ON "community_events" ("tenant_id", "id") WHERE "visibility" = 'private'`);

    await q.query(`
      CREATE TABLE "community_event_invites" (
        "event_id" uuid NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "tenant_id" varchar(64) NOT NULL,${SYNCED},
        CONSTRAINT "community_event_invites_pk" PRIMARY KEY ("event_id", "user_id"),
        CONSTRAINT "community_event_invites_event_fk" FOREIGN KEY ("event_id") REFERENCES "community_events" ("id")
      )`);
    await q.query(
      `CREATE INDEX "community_event_invites_user_idx" ON "community_event_invites" ("tenant_id", "user_id", "sync_xid", "event_id")`,
    );

    await q.query(`
      CREATE TABLE "community_rsvps" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "event_id" uuid NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "status" varchar(16) NOT NULL,
        "offline_id" varchar(128),
        "client_updated_at" timestamptz NOT NULL,${SYNCED},
        CONSTRAINT "community_rsvps_pk" PRIMARY KEY ("id"),
        CONSTRAINT "community_rsvps_event_fk" FOREIGN KEY ("event_id") REFERENCES "community_events" ("id")
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "community_rsvps_member_uq" ON "community_rsvps" ("event_id", "user_id") WHERE "deleted_at" IS NULL`,
    );
    await q.query(`CREATE INDEX "community_rsvps_sync_idx" ON "community_rsvps" ("tenant_id", "sync_xid", "id")`);
    await q.query(`CREATE INDEX "community_rsvps_tenant_idx" ON "community_rsvps" ("tenant_id", "id")`);

    await q.query(`
      CREATE TABLE "community_services" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "name" varchar(200) NOT NULL,
        "location" varchar(200),
        "starts_at" timestamptz NOT NULL,
        "ends_at" timestamptz NOT NULL,
        "created_by" varchar(128) NOT NULL,${SYNCED},
        CONSTRAINT "community_services_pk" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "community_services_time_idx" ON "community_services" ("tenant_id", "starts_at")`);

    await q.query(`
      CREATE TABLE "community_checkins" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "service_id" uuid NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "checkin_time" timestamptz NOT NULL,
        "checkout_time" timestamptz,
        "offline_id" varchar(128),
        "recorded_by" varchar(128) NOT NULL,
        "client_updated_at" timestamptz NOT NULL,${SYNCED},
        CONSTRAINT "community_checkins_pk" PRIMARY KEY ("id"),
        CONSTRAINT "community_checkins_service_fk" FOREIGN KEY ("service_id") REFERENCES "community_services" ("id")
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "community_checkins_member_uq" ON "community_checkins" ("service_id", "user_id") WHERE "deleted_at" IS NULL`,
    );
    await q.query(`CREATE INDEX "community_checkins_sync_idx" ON "community_checkins" ("tenant_id", "sync_xid", "id")`);
    await q.query(`CREATE INDEX "community_checkins_tenant_idx" ON "community_checkins" ("tenant_id", "id")`);

    await q.query(`
      CREATE TABLE "community_announcements" (
        "id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "title" varchar(200) NOT NULL,
        "content" text NOT NULL,
        "priority" varchar(16) NOT NULL,
        "created_by" varchar(128) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "community_announcements_pk" PRIMARY KEY ("id")
      )`);
    await q.query(`CREATE INDEX "community_announcements_tenant_idx" ON "community_announcements" ("tenant_id", "created_at")`);

    for (const table of TABLES)
      await q.query(`CREATE TRIGGER "${table}_sync" BEFORE INSERT OR UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION sync_touch()`);

    // Bulk mutation handlers, called by sync_apply_batch inside each item's savepoint.
    // They return {status, id?, serverVersion?, error?}; anything but created/updated is undone.
    await q.query(`
      CREATE FUNCTION community_apply_checkin(p_tenant text, p_user text, p_item jsonb, p_strategy text) RETURNS jsonb
      LANGUAGE plpgsql AS $$
      DECLARE
        v_now timestamptz := now();
        v_service uuid := (p_item->>'serviceId')::uuid;
        v_member text := p_item->>'userId';
        v_checkin timestamptz := LEAST((p_item->>'checkinTime')::timestamptz, v_now);
        v_checkout timestamptz := CASE WHEN p_item->>'checkoutTime' IS NULL THEN NULL
                                       ELSE LEAST((p_item->>'checkoutTime')::timestamptz, v_now) END;
        v_ts timestamptz := LEAST(COALESCE((p_item->>'clientUpdatedAt')::timestamptz, (p_item->>'checkoutTime')::timestamptz,
                                           (p_item->>'checkinTime')::timestamptz), v_now);
        v_base integer := (p_item->>'baseVersion')::integer;
        v_row community_checkins;
      BEGIN
        -- FOR SHARE: the service cannot be deleted under us (its deletion also deletes its check-ins).
        PERFORM 1 FROM community_services s
          WHERE s.id = v_service AND s.tenant_id = p_tenant AND s.deleted_at IS NULL FOR SHARE;
        IF NOT FOUND THEN
          RETURN jsonb_build_object('status', 'rejected', 'error',
            jsonb_build_object('code', 'service_not_found', 'message', 'No such service'));
        END IF;
        IF v_member <> p_user THEN
          PERFORM 1 FROM community_members m WHERE m.tenant_id = p_tenant AND m.user_id = v_member AND m.deleted_at IS NULL;
          IF NOT FOUND THEN
            RETURN jsonb_build_object('status', 'rejected', 'error',
              jsonb_build_object('code', 'member_not_found', 'message', 'No such member'));
          END IF;
        END IF;
        LOOP
          SELECT * INTO v_row FROM community_checkins c
           WHERE c.service_id = v_service AND c.user_id = v_member AND c.deleted_at IS NULL FOR UPDATE;
          IF NOT FOUND THEN
            IF p_strategy = 'fail-on-conflict' AND v_base IS NOT NULL THEN
              RETURN jsonb_build_object('status', 'conflict', 'server', NULL, 'error',
                jsonb_build_object('code', 'version_mismatch', 'message', 'The check-in no longer exists on the server'));
            END IF;
            INSERT INTO community_checkins (id, tenant_id, service_id, user_id, checkin_time, checkout_time, offline_id, recorded_by, client_updated_at)
            VALUES (gen_random_uuid(), p_tenant, v_service, v_member, v_checkin, v_checkout, p_item->>'offlineId', p_user, v_ts)
            ON CONFLICT (service_id, user_id) WHERE deleted_at IS NULL DO NOTHING
            RETURNING * INTO v_row;
            IF FOUND THEN
              RETURN jsonb_build_object('status', 'created', 'id', v_row.id, 'serverVersion', v_row.version);
            END IF;
            CONTINUE; -- a concurrent check-in of the same member won the insert: resolve against it
          END IF;
          IF p_strategy = 'fail-on-conflict' THEN
            IF v_base IS DISTINCT FROM v_row.version THEN
              RETURN jsonb_build_object('status', 'conflict', 'id', v_row.id, 'serverVersion', v_row.version, 'error',
                jsonb_build_object('code', 'version_mismatch', 'message', 'The server has a newer version of this check-in'));
            END IF;
          ELSIF v_row.client_updated_at > v_ts THEN
            RETURN jsonb_build_object('status', 'conflict', 'id', v_row.id, 'serverVersion', v_row.version, 'error',
              jsonb_build_object('code', 'stale_write', 'message', 'The server has a newer change of this check-in'));
          END IF;
          UPDATE community_checkins
             SET checkin_time = v_checkin, checkout_time = v_checkout, client_updated_at = v_ts
           WHERE id = v_row.id
          RETURNING * INTO v_row;
          RETURN jsonb_build_object('status', 'updated', 'id', v_row.id, 'serverVersion', v_row.version);
        END LOOP;
      END $$`);

    await q.query(`
      CREATE FUNCTION community_apply_rsvp(p_tenant text, p_user text, p_item jsonb, p_strategy text) RETURNS jsonb
      LANGUAGE plpgsql AS $$
      DECLARE
        v_now timestamptz := now();
        v_status text := p_item->>'status';
        v_ts timestamptz := LEAST(COALESCE((p_item->>'clientUpdatedAt')::timestamptz, v_now), v_now);
        v_base integer := (p_item->>'baseVersion')::integer;
        v_event community_events;
        v_row community_rsvps;
        v_going integer;
      BEGIN
        -- Locked so the event cannot be deleted under us; FOR UPDATE when seats are counted, so two
        -- RSVPs cannot both take the last one.
        IF v_status = 'going' THEN
          SELECT * INTO v_event FROM community_events e
           WHERE e.id = (p_item->>'eventId')::uuid AND e.tenant_id = p_tenant AND e.deleted_at IS NULL FOR NO KEY UPDATE;
        ELSE
          SELECT * INTO v_event FROM community_events e
           WHERE e.id = (p_item->>'eventId')::uuid AND e.tenant_id = p_tenant AND e.deleted_at IS NULL FOR SHARE;
        END IF;
        -- The events feed's visibility rule (community.sql.ts), from the member record, not the token.
        IF NOT FOUND OR NOT (v_event.visibility = 'public'
            OR EXISTS (SELECT 1 FROM community_members m
                        WHERE m.tenant_id = p_tenant AND m.user_id = p_user
                          AND community_privileged(m.roles, m.status, m.deleted_at))
            OR EXISTS (SELECT 1 FROM community_event_invites i
                        WHERE i.event_id = v_event.id AND i.user_id = p_user AND i.deleted_at IS NULL)) THEN
          RETURN jsonb_build_object('status', 'rejected', 'error',
            jsonb_build_object('code', 'event_not_found', 'message', 'No such event'));
        END IF;
        LOOP
          SELECT * INTO v_row FROM community_rsvps r
           WHERE r.event_id = v_event.id AND r.user_id = p_user AND r.deleted_at IS NULL FOR UPDATE;
          IF FOUND THEN
            IF p_strategy = 'fail-on-conflict' THEN
              IF v_base IS DISTINCT FROM v_row.version THEN
                RETURN jsonb_build_object('status', 'conflict', 'id', v_row.id, 'serverVersion', v_row.version, 'error',
                  jsonb_build_object('code', 'version_mismatch', 'message', 'The server has a newer version of this RSVP'));
              END IF;
            ELSIF v_row.client_updated_at > v_ts THEN
              RETURN jsonb_build_object('status', 'conflict', 'id', v_row.id, 'serverVersion', v_row.version, 'error',
                jsonb_build_object('code', 'stale_write', 'message', 'The server has a newer change of this RSVP'));
            END IF;
          ELSIF p_strategy = 'fail-on-conflict' AND v_base IS NOT NULL THEN
            RETURN jsonb_build_object('status', 'conflict', 'server', NULL, 'error',
              jsonb_build_object('code', 'version_mismatch', 'message', 'The RSVP no longer exists on the server'));
          END IF;
          IF v_status = 'going' AND v_event.capacity IS NOT NULL AND (v_row.id IS NULL OR v_row.status <> 'going') THEN
            SELECT count(*) INTO v_going FROM community_rsvps r
             WHERE r.event_id = v_event.id AND r.status = 'going' AND r.deleted_at IS NULL;
            IF v_going >= v_event.capacity THEN
              RETURN jsonb_build_object('status', 'rejected', 'error',
                jsonb_build_object('code', 'event_full', 'message', 'The event has no seats left'));
            END IF;
          END IF;
          IF v_row.id IS NOT NULL THEN
            UPDATE community_rsvps SET status = v_status, client_updated_at = v_ts WHERE id = v_row.id RETURNING * INTO v_row;
            RETURN jsonb_build_object('status', 'updated', 'id', v_row.id, 'serverVersion', v_row.version);
          END IF;
          INSERT INTO community_rsvps (id, tenant_id, event_id, user_id, status, offline_id, client_updated_at)
          VALUES (gen_random_uuid(), p_tenant, v_event.id, p_user, v_status, p_item->>'offlineId', v_ts)
          ON CONFLICT (event_id, user_id) WHERE deleted_at IS NULL DO NOTHING
          RETURNING * INTO v_row;
          IF FOUND THEN
            RETURN jsonb_build_object('status', 'created', 'id', v_row.id, 'serverVersion', v_row.version);
          END IF;
        END LOOP;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION community_apply_rsvp(text, text, jsonb, text)`);
    await q.query(`DROP FUNCTION community_apply_checkin(text, text, jsonb, text)`);
    for (const table of [
      'community_announcements',
      'community_checkins',
      'community_services',
      'community_rsvps',
      'community_event_invites',
      'community_events',
      'community_members',
    ])
      await q.query(`DROP TABLE "${table}"`);
    await q.query(`DROP FUNCTION community_members_access()`);
    await q.query(`DROP FUNCTION community_privileged(text[], text, timestamptz)`);
  }
}
