import { MigrationInterface, QueryRunner } from 'typeorm';

/** community_members_access as CreateCommunity made it (restored by down). */
const ACCESS_V1 = `
      CREATE OR REPLACE FUNCTION community_members_access() RETURNS trigger LANGUAGE plpgsql AS $$
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
      END $$`;

/**
 * Sites within a tenant (the church app's churches): services, announcements and members carry an
 * optional `site_id`; NULL is tenant-wide. A member's site also decides what they see, so a change
 * of site moves `access_xid` like a change of privilege (the feeds re-evaluate the rows it affects).
 *
 * The bulk handlers gain what item 8 of issue 13 asks: a check-in or RSVP that a leader, an admin or
 * the host writes for a user Tether has never seen enrolls that member (a removed member stays
 * removed: `member_not_found`), and RSVP items may name their member. They are new functions
 * (`_v2`, which community.sync.ts registers) so that down can drop them and leave CreateCommunity's
 * as they were.
 */
export class CommunitySites1763890000000 implements MigrationInterface {
  name = 'CommunitySites1763890000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['community_members', 'community_services', 'community_announcements'])
      await q.query(`ALTER TABLE "${table}" ADD "site_id" varchar(64)`);
    await q.query(`
      CREATE OR REPLACE FUNCTION community_members_access() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_before boolean := false;
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          v_before := community_privileged(OLD.roles, OLD.status, OLD.deleted_at);
        END IF;
        IF community_privileged(NEW.roles, NEW.status, NEW.deleted_at) IS DISTINCT FROM v_before
           OR (TG_OP = 'UPDATE' AND OLD.site_id IS DISTINCT FROM NEW.site_id) THEN
          NEW.access_xid := pg_current_xact_id()::text::bigint;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE FUNCTION community_apply_checkin_v2(p_tenant text, p_user text, p_item jsonb, p_strategy text) RETURNS jsonb
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
          -- A member Tether has never seen is enrolled (at the service's site); a removed one stays removed.
          INSERT INTO community_members (id, tenant_id, user_id, display_name, roles, site_id)
          SELECT gen_random_uuid(), p_tenant, v_member, v_member, ARRAY['MEMBER'], s.site_id
            FROM community_services s WHERE s.id = v_service
          ON CONFLICT (tenant_id, user_id) DO NOTHING;
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
      CREATE FUNCTION community_apply_rsvp_v2(p_tenant text, p_user text, p_item jsonb, p_strategy text) RETURNS jsonb
      LANGUAGE plpgsql AS $$
      DECLARE
        v_now timestamptz := now();
        v_status text := p_item->>'status';
        -- Leaders, admins and the host (checked before) may answer for someone else.
        v_member text := COALESCE(p_item->>'userId', p_user);
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
        IF v_member <> p_user THEN
          -- A member Tether has never seen is enrolled; a removed one stays removed.
          INSERT INTO community_members (id, tenant_id, user_id, display_name, roles)
          VALUES (gen_random_uuid(), p_tenant, v_member, v_member, ARRAY['MEMBER'])
          ON CONFLICT (tenant_id, user_id) DO NOTHING;
          PERFORM 1 FROM community_members m WHERE m.tenant_id = p_tenant AND m.user_id = v_member AND m.deleted_at IS NULL;
          IF NOT FOUND THEN
            RETURN jsonb_build_object('status', 'rejected', 'error',
              jsonb_build_object('code', 'member_not_found', 'message', 'No such member'));
          END IF;
        END IF;
        LOOP
          SELECT * INTO v_row FROM community_rsvps r
           WHERE r.event_id = v_event.id AND r.user_id = v_member AND r.deleted_at IS NULL FOR UPDATE;
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
          VALUES (gen_random_uuid(), p_tenant, v_event.id, v_member, v_status, p_item->>'offlineId', v_ts)
          ON CONFLICT (event_id, user_id) WHERE deleted_at IS NULL DO NOTHING
          RETURNING * INTO v_row;
          IF FOUND THEN
            RETURN jsonb_build_object('status', 'created', 'id', v_row.id, 'serverVersion', v_row.version);
          END IF;
        END LOOP;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION community_apply_rsvp_v2(text, text, jsonb, text)`);
    await q.query(`DROP FUNCTION community_apply_checkin_v2(text, text, jsonb, text)`);
    await q.query(ACCESS_V1);
    for (const table of ['community_announcements', 'community_services', 'community_members'])
      await q.query(`ALTER TABLE "${table}" DROP COLUMN "site_id"`);
  }
}
