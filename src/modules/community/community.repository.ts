import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { ANNOUNCEMENT_DOC, CHECKIN_DOC, EVENT_DOC, MEMBER_DOC, SERVICE_DOC } from './community.sql';
import { rowsOf } from '../../core/database/rows';

export type Doc = Record<string, unknown>;

export interface EventFields {
  title: string;
  description: string | null;
  location: string | null;
  startsAt: string;
  endsAt: string | null;
  capacity: number | null;
  visibility: string;
}

export interface ServiceFields {
  name: string;
  location: string | null;
  startsAt: string;
  endsAt: string;
  siteId: string | null;
}

export interface MemberFields {
  displayName?: string;
  roles?: string[];
  status?: string;
  /** null: tenant-wide; undefined: unchanged (tenant-wide for a new member). */
  siteId?: string | null;
}

export interface Counts {
  total: number;
  present: number;
}

/** Columns a PATCH may set, by DTO field. */
const EVENT_SETTABLE: Record<string, string> = {
  title: 'title',
  description: 'description',
  location: 'location',
  startsAt: 'starts_at',
  endsAt: 'ends_at',
  capacity: 'capacity',
  visibility: 'visibility',
};
const SERVICE_SETTABLE: Record<string, string> = {
  name: 'name',
  location: 'location',
  startsAt: 'starts_at',
  endsAt: 'ends_at',
  siteId: 'site_id',
};

const parse = (result: unknown): Doc | undefined => {
  const rows = rowsOf<{ doc: string }>(result);
  return rows[0] ? (JSON.parse(rows[0].doc) as Doc) : undefined;
};

/** SQL for the community tables. Every statement is scoped by the tenant; documents come from community.sql.ts. */
@Injectable()
export class CommunityRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /** Creates the member row if missing; never touches an existing (or deleted) one. */
  async enrollMember(tenantId: string, userId: string, roles: string[]): Promise<void> {
    await this.db.query(
      `INSERT INTO community_members (id, tenant_id, user_id, display_name, roles) VALUES ($1, $2, $3::text, $3::text, $4)
       ON CONFLICT (tenant_id, user_id) DO NOTHING`,
      [randomUUID(), tenantId, userId, roles],
    );
  }

  /**
   * Upsert (and undelete); writes only when something changes, so the feed is not churned.
   * `status`: `unchanged` when the record already was exactly this.
   */
  async putMember(
    tenantId: string,
    userId: string,
    f: MemberFields,
    em?: EntityManager,
  ): Promise<{ doc: Doc; created: boolean; status: 'created' | 'updated' | 'unchanged' }> {
    const db = em ?? this.db;
    const site = `CASE WHEN $7 THEN $8::text ELSE r.site_id END`;
    const rows: { doc: string; created: boolean }[] = await db.query(
      `INSERT INTO community_members AS r (id, tenant_id, user_id, display_name, roles, status, site_id)
       VALUES ($1, $2, $3::text, coalesce($4::text, $3::text), coalesce($5::text[], ARRAY['MEMBER']), coalesce($6::text, 'active'), $8::text)
       ON CONFLICT (tenant_id, user_id) DO UPDATE
         SET display_name = coalesce($4::text, r.display_name), roles = coalesce($5::text[], r.roles),
             status = coalesce($6::text, r.status), site_id = ${site}, deleted_at = NULL
         WHERE (r.display_name::text, r.roles, r.status::text, r.site_id::text, r.deleted_at) IS DISTINCT FROM
               (coalesce($4::text, r.display_name), coalesce($5::text[], r.roles), coalesce($6::text, r.status), ${site}, NULL::timestamptz)
       RETURNING ${MEMBER_DOC}::text AS doc, (r.xmax = 0) AS created`,
      [randomUUID(), tenantId, userId, f.displayName ?? null, f.roles ?? null, f.status ?? null, f.siteId !== undefined, f.siteId ?? null],
    );
    if (rows[0]) return { doc: JSON.parse(rows[0].doc) as Doc, created: rows[0].created, status: rows[0].created ? 'created' : 'updated' };
    const same = await db.query(`SELECT ${MEMBER_DOC}::text AS doc FROM community_members r WHERE r.tenant_id = $1 AND r.user_id = $2`, [
      tenantId,
      userId,
    ]);
    return { doc: parse(same)!, created: false, status: 'unchanged' };
  }

  /**
   * Enrolls a member Tether has never seen, for a check-in someone else records (at the service's
   * site). False when the member cannot take it: removed before. Nothing happens for an unknown service.
   */
  async enrollForService(em: EntityManager, tenantId: string, userId: string, serviceId: string): Promise<boolean> {
    await em.query(
      `INSERT INTO community_members (id, tenant_id, user_id, display_name, roles, site_id)
       SELECT $1, $2::text, $3::text, $3::text, ARRAY['MEMBER'], s.site_id
         FROM community_services s WHERE s.id = $4::uuid AND s.tenant_id = $2::text AND s.deleted_at IS NULL
       ON CONFLICT (tenant_id, user_id) DO NOTHING`,
      [randomUUID(), tenantId, userId, serviceId],
    );
    const rows: { live: boolean }[] = await em.query(
      `SELECT deleted_at IS NULL AS live FROM community_members WHERE tenant_id = $1 AND user_id = $2`,
      [tenantId, userId],
    );
    return rows[0]?.live ?? true;
  }

  /** The member's site (null: tenant-wide, or no such member). */
  /** Display names of these users' live member rows. */
  async memberNames(tenantId: string, userIds: string[]): Promise<Map<string, string>> {
    const rows: { userId: string; name: string }[] = await this.db.query(
      `SELECT user_id AS "userId", display_name AS name FROM community_members
        WHERE tenant_id = $1 AND user_id = ANY($2::varchar[]) AND deleted_at IS NULL`,
      [tenantId, userIds],
    );
    return new Map(rows.map((r) => [r.userId, r.name]));
  }

  async memberSite(tenantId: string, userId: string): Promise<string | null> {
    const rows: { site_id: string | null }[] = await this.db.query(
      `SELECT site_id FROM community_members WHERE tenant_id = $1 AND user_id = $2 AND deleted_at IS NULL`,
      [tenantId, userId],
    );
    return rows[0]?.site_id ?? null;
  }

  /** Live members of a site with one of these roles (an announcement's push), at most `limit`. */
  async siteMembers(em: EntityManager, tenantId: string, siteId: string, roles: string[], limit: number): Promise<string[]> {
    const rows: { user_id: string }[] = await em.query(
      `SELECT user_id FROM community_members
        WHERE tenant_id = $1 AND site_id = $2 AND roles && $3::text[] AND status = 'active' AND deleted_at IS NULL
        ORDER BY user_id LIMIT $4`,
      [tenantId, siteId, roles, limit],
    );
    return rows.map((r) => r.user_id);
  }

  /** Sites of these services (null: tenant-wide). */
  async serviceSites(em: EntityManager, tenantId: string, serviceIds: string[]): Promise<Map<string, string | null>> {
    const rows: { id: string; site_id: string | null }[] = await em.query(
      `SELECT id::text AS id, site_id FROM community_services WHERE tenant_id = $1 AND id = ANY($2::uuid[])`,
      [tenantId, serviceIds],
    );
    return new Map(rows.map((r) => [r.id, r.site_id]));
  }

  async deleteMember(tenantId: string, userId: string): Promise<boolean> {
    const result = await this.db.query(
      `UPDATE community_members SET deleted_at = now() WHERE tenant_id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING id`,
      [tenantId, userId],
    );
    return rowsOf(result).length > 0;
  }

  async insertEvent(em: EntityManager, tenantId: string, userId: string, f: EventFields): Promise<Doc> {
    const rows = await em.query(
      `INSERT INTO community_events AS r (id, tenant_id, title, description, location, starts_at, ends_at, capacity, visibility, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${EVENT_DOC}::text AS doc`,
      [randomUUID(), tenantId, f.title, f.description, f.location, f.startsAt, f.endsAt, f.capacity, f.visibility, userId],
    );
    return parse(rows)!;
  }

  /** The live event, locked for the rest of the transaction; undefined if absent in this tenant. */
  async lockEvent(em: EntityManager, tenantId: string, id: string): Promise<{ startsAt: string; endsAt: string | null } | undefined> {
    const rows: { starts_at: Date; ends_at: Date | null }[] = await em.query(
      `SELECT starts_at, ends_at FROM community_events WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL FOR UPDATE`,
      [id, tenantId],
    );
    return rows[0] && { startsAt: rows[0].starts_at.toISOString(), endsAt: rows[0].ends_at?.toISOString() ?? null };
  }

  async updateEvent(em: EntityManager, tenantId: string, id: string, patch: Partial<EventFields>): Promise<Doc> {
    return this.update(em, 'community_events', EVENT_SETTABLE, EVENT_DOC, tenantId, id, patch);
  }

  async eventDoc(em: EntityManager, tenantId: string, id: string): Promise<Doc | undefined> {
    return parse(
      await em.query(`SELECT ${EVENT_DOC}::text AS doc FROM community_events r WHERE r.id = $1 AND r.tenant_id = $2`, [id, tenantId]),
    );
  }

  /** Makes the live invitations exactly `userIds`: others are revoked (soft), missing ones added or restored. */
  async setInvitees(em: EntityManager, tenantId: string, eventId: string, userIds: string[]): Promise<void> {
    await em.query(
      `UPDATE community_event_invites SET deleted_at = now()
        WHERE event_id = $1 AND deleted_at IS NULL AND NOT (user_id = ANY($2::text[]))`,
      [eventId, userIds],
    );
    await em.query(
      `INSERT INTO community_event_invites AS i (event_id, user_id, tenant_id)
       SELECT $1, u, $3 FROM unnest($2::text[]) u
       ON CONFLICT (event_id, user_id) DO UPDATE SET deleted_at = NULL WHERE i.deleted_at IS NOT NULL`,
      [eventId, userIds, tenantId],
    );
  }

  async invitees(em: EntityManager, eventId: string): Promise<string[]> {
    const rows: { user_id: string }[] = await em.query(
      `SELECT user_id FROM community_event_invites WHERE event_id = $1 AND deleted_at IS NULL ORDER BY user_id`,
      [eventId],
    );
    return rows.map((r) => r.user_id);
  }

  /** Soft-deletes the event with its invitations and RSVPs (the feeds report all of them). */
  async deleteEvent(tenantId: string, id: string): Promise<boolean> {
    return this.transaction(async (em) => {
      const result = await em.query(
        `UPDATE community_events SET deleted_at = now() WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL RETURNING id`,
        [id, tenantId],
      );
      if (!rowsOf(result).length) return false;
      await em.query(`UPDATE community_event_invites SET deleted_at = now() WHERE event_id = $1 AND deleted_at IS NULL`, [id]);
      await em.query(`UPDATE community_rsvps SET deleted_at = now() WHERE event_id = $1 AND deleted_at IS NULL`, [id]);
      return true;
    });
  }

  async insertService(tenantId: string, userId: string, f: ServiceFields): Promise<Doc> {
    const rows = await this.db.query(
      `INSERT INTO community_services AS r (id, tenant_id, name, location, starts_at, ends_at, created_by, site_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${SERVICE_DOC}::text AS doc`,
      [randomUUID(), tenantId, f.name, f.location, f.startsAt, f.endsAt, userId, f.siteId],
    );
    return parse(rows)!;
  }

  async lockService(em: EntityManager, tenantId: string, id: string): Promise<{ startsAt: string; endsAt: string } | undefined> {
    const rows: { starts_at: Date; ends_at: Date }[] = await em.query(
      `SELECT starts_at, ends_at FROM community_services WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL FOR UPDATE`,
      [id, tenantId],
    );
    return rows[0] && { startsAt: rows[0].starts_at.toISOString(), endsAt: rows[0].ends_at.toISOString() };
  }

  async updateService(em: EntityManager, tenantId: string, id: string, patch: Partial<ServiceFields>): Promise<Doc> {
    return this.update(em, 'community_services', SERVICE_SETTABLE, SERVICE_DOC, tenantId, id, patch);
  }

  /** Soft-deletes the service and its check-ins. */
  async deleteService(tenantId: string, id: string): Promise<boolean> {
    return this.transaction(async (em) => {
      const result = await em.query(
        `UPDATE community_services SET deleted_at = now() WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL RETURNING id`,
        [id, tenantId],
      );
      if (!rowsOf(result).length) return false;
      await em.query(`UPDATE community_checkins SET deleted_at = now() WHERE service_id = $1 AND deleted_at IS NULL`, [id]);
      return true;
    });
  }

  async listServices(tenantId: string, from: Date, to: Date): Promise<string[]> {
    const rows: { doc: string }[] = await this.db.query(
      `SELECT ${SERVICE_DOC}::text AS doc FROM community_services r
        WHERE r.tenant_id = $1 AND r.deleted_at IS NULL AND r.ends_at >= $2 AND r.starts_at <= $3
        ORDER BY r.starts_at, r.id LIMIT 500`,
      [tenantId, from, to],
    );
    return rows.map((r) => r.doc);
  }

  async serviceExists(tenantId: string, id: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM community_services WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, [
      id,
      tenantId,
    ]);
    return rows.length > 0;
  }

  async memberExists(tenantId: string, userId: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM community_members WHERE tenant_id = $1 AND user_id = $2 AND deleted_at IS NULL`, [
      tenantId,
      userId,
    ]);
    return rows.length > 0;
  }

  /**
   * Checks a member in unless they already are (then the existing check-in is returned). The
   * service is share-locked so that its deletion cannot slip between the check and the insert.
   * In the caller's transaction.
   */
  async checkIn(
    tenantId: string,
    serviceId: string,
    userId: string,
    recordedBy: string,
    checkinTime: Date,
    offlineId: string | null,
    em: EntityManager,
  ): Promise<{ doc: Doc; created: boolean } | undefined> {
    const service = await em.query(`SELECT 1 FROM community_services WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL FOR SHARE`, [
      serviceId,
      tenantId,
    ]);
    if (!service.length) return undefined;
    const inserted = await em.query(
      `INSERT INTO community_checkins AS r (id, tenant_id, service_id, user_id, checkin_time, offline_id, recorded_by, client_updated_at)
       VALUES ($1, $2, $3, $4, LEAST($5::timestamptz, now()), $6, $7, LEAST($5::timestamptz, now()))
       ON CONFLICT (service_id, user_id) WHERE deleted_at IS NULL DO NOTHING
       RETURNING ${CHECKIN_DOC}::text AS doc`,
      [randomUUID(), tenantId, serviceId, userId, checkinTime, offlineId, recordedBy],
    );
    if (inserted.length) return { doc: parse(inserted)!, created: true };
    const existing = await em.query(
      `SELECT ${CHECKIN_DOC}::text AS doc FROM community_checkins r WHERE r.service_id = $1 AND r.user_id = $2 AND r.deleted_at IS NULL`,
      [serviceId, userId],
    );
    return { doc: parse(existing)!, created: false };
  }

  async counts(tenantId: string, serviceIds: string[], em?: EntityManager): Promise<Map<string, Counts>> {
    const rows: { service_id: string; total: number; present: number }[] = await (em ?? this.db).query(
      `SELECT s.id::text AS service_id, count(c.id)::int AS total, (count(c.id) FILTER (WHERE c.checkout_time IS NULL))::int AS present
         FROM community_services s
         LEFT JOIN community_checkins c ON c.service_id = s.id AND c.deleted_at IS NULL
        WHERE s.tenant_id = $1 AND s.id = ANY($2::uuid[]) AND s.deleted_at IS NULL
        GROUP BY s.id`,
      [tenantId, serviceIds],
    );
    return new Map(rows.map((r) => [r.service_id, { total: r.total, present: r.present }]));
  }

  /**
   * Services under way: from an hour before they start until they end. `site`: `all` (leaders,
   * admins, the host), or a site id / null: tenant-wide services plus that site's.
   */
  async liveCounts(
    tenantId: string,
    site: string | null | 'all',
    only?: string,
  ): Promise<{ id: string; name: string; siteId: string | null; startsAt: Date; endsAt: Date; total: number; present: number }[]> {
    const rows: {
      id: string;
      name: string;
      site_id: string | null;
      starts_at: Date;
      ends_at: Date;
      total: number;
      present: number;
    }[] = await this.db.query(
      `SELECT s.id::text AS id, s.name, s.site_id, s.starts_at, s.ends_at,
              count(c.id)::int AS total, (count(c.id) FILTER (WHERE c.checkout_time IS NULL))::int AS present
         FROM community_services s
         LEFT JOIN community_checkins c ON c.service_id = s.id AND c.deleted_at IS NULL
        WHERE s.tenant_id = $1 AND s.deleted_at IS NULL AND s.starts_at <= now() + interval '1 hour' AND s.ends_at >= now()
          AND ($2 OR s.site_id IS NULL OR s.site_id = $3::text)
          AND ($4::text IS NULL OR s.site_id IS NULL OR s.site_id = $4::text)
        GROUP BY s.id ORDER BY s.starts_at, s.id LIMIT 100`,
      [tenantId, site === 'all', site === 'all' ? null : site, only ?? null],
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      siteId: r.site_id,
      startsAt: r.starts_at,
      endsAt: r.ends_at,
      total: r.total,
      present: r.present,
    }));
  }

  async insertAnnouncement(
    em: EntityManager,
    tenantId: string,
    userId: string,
    title: string,
    content: string,
    priority: string,
    siteId: string | null,
  ): Promise<Doc> {
    const rows = await em.query(
      `INSERT INTO community_announcements AS r (id, tenant_id, title, content, priority, created_by, site_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${ANNOUNCEMENT_DOC}::text AS doc`,
      [randomUUID(), tenantId, title, content, priority, userId, siteId],
    );
    return parse(rows)!;
  }

  private async update(
    em: EntityManager,
    table: string,
    settable: Record<string, string>,
    doc: string,
    tenantId: string,
    id: string,
    patch: object,
  ): Promise<Doc> {
    const fields = Object.entries(patch).filter(([k, v]) => v !== undefined && k in settable);
    if (!fields.length)
      return parse(await em.query(`SELECT ${doc}::text AS doc FROM ${table} r WHERE r.id = $1 AND r.tenant_id = $2`, [id, tenantId]))!;
    const sets = fields.map(([k], i) => `${settable[k]} = $${i + 3}`).join(', ');
    const rows = await em.query(`UPDATE ${table} AS r SET ${sets} WHERE r.id = $1 AND r.tenant_id = $2 RETURNING ${doc}::text AS doc`, [
      id,
      tenantId,
      ...fields.map(([, v]) => v),
    ]);
    return parse(rows)!;
  }
}
