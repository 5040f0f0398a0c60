import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { AuthUser } from '../../core/auth/auth-user';
import { ForbiddenError, invalidField, NotFoundError } from '../../core/http/domain-error';
import { channelKey, OutboxService, type OutboxTransaction } from '../../core/outbox';
import { NotificationsService } from '../notifications';
import type { NotifyRecipients } from '../notifications';
import { realtimeEvent } from '../realtime';
import type { PolicyDecision } from '../realtime';
import { ANNOUNCEMENT_ROLES } from './dto/community.dto';
import type { BulkMemberDto, BulkMemberResult } from './dto/community.dto';
import { CommunityRepository, Doc, EventFields, MemberFields, ServiceFields } from './community.repository';
import type {
  CheckinDto,
  CreateAnnouncementDto,
  CreateEventDto,
  CreateServiceDto,
  LiveCountsResponse,
  ServiceCounts,
  UpdateEventDto,
  UpdateServiceDto,
} from './dto/community.dto';

const SERVICE_DEFAULT_LENGTH_MS = 2 * 3600 * 1000;
/** Members enrolled from their token are remembered this long per pod (no DB write per request). */
const ENROLLED_TTL_MS = 10 * 60 * 1000;
const ENROLLED_MAX = 50_000;

export const PRIVILEGED_ROLES = ['LEADER', 'ADMIN', 'SERVICE'];
/** Most site members one announcement pushes to (notify()'s own limit). */
const MAX_SITE_RECIPIENTS = 10_000;

/**
 * Where a site's live events go: `site:<siteId>` (counts of its services, its announcements);
 * tenant-wide ones stay on `service:counts` and `announcements`.
 */
export function siteChannel(siteId: string): string {
  return `site:${siteId}`;
}
const countsChannel = (siteId: string | null) => (siteId ? siteChannel(siteId) : 'service:counts');
const isPrivileged = (user: AuthUser) => user.roles.some((r) => PRIVILEGED_ROLES.includes(r));
const iso = (v: string) => new Date(v).toISOString();

/**
 * The community domain: what the host backend and admins write (events, services, members,
 * announcements), online check-ins and live counts. Offline reads and writes go through sync
 * (community.sync.ts registers the collections and mutation kinds).
 */
@Injectable()
export class CommunityService {
  private readonly logger = new Logger(CommunityService.name);
  private readonly enrolled = new LRUCache<string, true>({ max: ENROLLED_MAX, ttl: ENROLLED_TTL_MS });

  constructor(
    private readonly repo: CommunityRepository,
    private readonly notifications: NotificationsService,
    private readonly outbox: OutboxService,
  ) {}

  /** Members' display names (profiles asks when neither the host nor a token named a user). */
  memberNames(tenantId: string, userIds: string[]): Promise<Map<string, string>> {
    return this.repo.memberNames(tenantId, userIds);
  }

  /**
   * Creates the caller's member row from the token's claims the first time this pod sees them
   * (an in-memory cache keeps it to one INSERT ... ON CONFLICT DO NOTHING per user per pod and TTL).
   * Server-to-server callers (role SERVICE) are not members. Never fails the request.
   */
  async ensureMember(user: AuthUser): Promise<void> {
    if (user.roles.includes('SERVICE')) return;
    const key = `${user.tenantId}\n${user.userId}`;
    if (this.enrolled.has(key)) return;
    try {
      await this.repo.enrollMember(
        user.tenantId,
        user.userId,
        user.roles.filter((r) => r !== 'SERVICE'),
      );
    } catch (err) {
      // Not worth failing the request (it may not even touch the database): the next one retries.
      // Until then the caller simply has no member record, i.e. sees what any member sees.
      this.logger.warn(`member ${user.userId} not enrolled: ${(err as Error).message}`);
      return;
    }
    this.enrolled.set(key, true);
  }

  async putMember(user: AuthUser, userId: string, fields: MemberFields): Promise<{ doc: Doc; created: boolean }> {
    return this.repo.putMember(user.tenantId, userId, fields);
  }

  /**
   * The host's bulk upsert, in one transaction: each member as PUT /members/:userId would leave it.
   * Idempotent: the same list again changes nothing (`unchanged`) and writes nothing.
   */
  async putMembers(user: AuthUser, members: BulkMemberDto[]): Promise<{ results: BulkMemberResult[] }> {
    const seen = new Set<string>();
    for (const [i, m] of members.entries()) {
      if (seen.has(m.userId)) throw invalidField(`members.${i}.userId`, `userId ${m.userId} appears more than once`);
      seen.add(m.userId);
    }
    return this.repo.transaction(async (em) => {
      const results: BulkMemberResult[] = [];
      for (const { userId, displayName, roles, status, siteId } of members) {
        const put = await this.repo.putMember(user.tenantId, userId, { displayName, roles, status, siteId }, em);
        results.push({ userId, status: put.status, member: put.doc });
      }
      return { results };
    });
  }

  /**
   * Who may join `site:<siteId>`: that site's members, and leaders, admins and the host (whose
   * token says so). From the member record, as sync's visibility.
   */
  async authorizeSite(user: AuthUser, siteId: string | undefined): Promise<PolicyDecision> {
    if (!siteId) return { reason: 'forbidden' };
    if (isPrivileged(user)) return true;
    return (await this.repo.memberSite(user.tenantId, user.userId)) === siteId || { reason: 'forbidden' };
  }

  async deleteMember(user: AuthUser, userId: string): Promise<void> {
    if (!(await this.repo.deleteMember(user.tenantId, userId))) throw new NotFoundError('member_not_found', 'No such member');
  }

  async createEvent(user: AuthUser, dto: CreateEventDto): Promise<Doc> {
    const fields: EventFields = {
      title: dto.title,
      description: dto.description ?? null,
      location: dto.location ?? null,
      startsAt: iso(dto.startsAt),
      endsAt: dto.endsAt ? iso(dto.endsAt) : null,
      capacity: dto.capacity ?? null,
      visibility: dto.visibility ?? 'public',
    };
    assertOrder(fields.startsAt, fields.endsAt);
    return this.repo.transaction(async (em) => {
      const doc = await this.repo.insertEvent(em, user.tenantId, user.userId, fields);
      if (dto.invitees?.length) await this.repo.setInvitees(em, user.tenantId, doc.id as string, dto.invitees);
      return { ...doc, invitees: await this.repo.invitees(em, doc.id as string) };
    });
  }

  async updateEvent(user: AuthUser, id: string, dto: UpdateEventDto): Promise<Doc> {
    return this.repo.transaction(async (em) => {
      const current = await this.repo.lockEvent(em, user.tenantId, id);
      if (!current) throw new NotFoundError('event_not_found', 'No such event');
      const patch: Partial<EventFields> = {
        title: dto.title,
        description: dto.description,
        location: dto.location,
        startsAt: dto.startsAt && iso(dto.startsAt),
        endsAt: dto.endsAt === undefined || dto.endsAt === null ? dto.endsAt : iso(dto.endsAt),
        capacity: dto.capacity,
        visibility: dto.visibility,
      };
      assertOrder(patch.startsAt ?? current.startsAt, patch.endsAt === undefined ? current.endsAt : patch.endsAt);
      const doc = await this.repo.updateEvent(em, user.tenantId, id, patch);
      if (dto.invitees) await this.repo.setInvitees(em, user.tenantId, id, dto.invitees);
      return { ...doc, invitees: await this.repo.invitees(em, id) };
    });
  }

  async deleteEvent(user: AuthUser, id: string): Promise<void> {
    if (!(await this.repo.deleteEvent(user.tenantId, id))) throw new NotFoundError('event_not_found', 'No such event');
  }

  async createService(user: AuthUser, dto: CreateServiceDto): Promise<Doc> {
    const startsAt = iso(dto.startsAt);
    const endsAt = dto.endsAt ? iso(dto.endsAt) : new Date(new Date(startsAt).getTime() + SERVICE_DEFAULT_LENGTH_MS).toISOString();
    assertOrder(startsAt, endsAt);
    const fields: ServiceFields = { name: dto.name, location: dto.location ?? null, startsAt, endsAt, siteId: dto.siteId ?? null };
    return this.repo.insertService(user.tenantId, user.userId, fields);
  }

  async updateService(user: AuthUser, id: string, dto: UpdateServiceDto): Promise<Doc> {
    return this.repo.transaction(async (em) => {
      const current = await this.repo.lockService(em, user.tenantId, id);
      if (!current) throw new NotFoundError('service_not_found', 'No such service');
      const patch: Partial<ServiceFields> = {
        name: dto.name,
        location: dto.location,
        startsAt: dto.startsAt && iso(dto.startsAt),
        endsAt: dto.endsAt && iso(dto.endsAt),
        siteId: dto.siteId,
      };
      assertOrder(patch.startsAt ?? current.startsAt, patch.endsAt ?? current.endsAt);
      return this.repo.updateService(em, user.tenantId, id, patch);
    });
  }

  async deleteService(user: AuthUser, id: string): Promise<void> {
    if (!(await this.repo.deleteService(user.tenantId, id))) throw new NotFoundError('service_not_found', 'No such service');
  }

  async listServices(user: AuthUser, from?: string, to?: string): Promise<string> {
    const now = Date.now();
    const docs = await this.repo.listServices(
      user.tenantId,
      from ? new Date(from) : new Date(now - 12 * 3600 * 1000),
      to ? new Date(to) : new Date(now + 30 * 24 * 3600 * 1000),
    );
    return `{"services":[${docs.join(',')}]}`;
  }

  /** Online check-in. The new counts go out on `service:counts` through the outbox. */
  async checkIn(user: AuthUser, serviceId: string, dto: CheckinDto): Promise<{ checkin: Doc; created: boolean; counts: ServiceCounts }> {
    const member = dto.userId ?? user.userId;
    if (member !== user.userId && !isPrivileged(user))
      throw new ForbiddenError('forbidden', 'Only leaders and admins may check in someone else');
    const checkinTime = dto.checkinTime ? new Date(dto.checkinTime) : new Date();
    const result = await this.outbox.transaction(async (tx) => {
      // A member Tether has never seen is enrolled (at the service's site); a removed one is not.
      if (member !== user.userId && !(await this.repo.enrollForService(tx.em, user.tenantId, member, serviceId)))
        throw new NotFoundError('member_not_found', 'No such member');
      const done = await this.repo.checkIn(user.tenantId, serviceId, member, user.userId, checkinTime, dto.offlineId ?? null, tx.em);
      if (!done?.created) return done && { ...done, counts: undefined };
      return { ...done, counts: (await this.recordCounts(tx, user.tenantId, [serviceId]))[0] };
    });
    if (!result) throw new NotFoundError('service_not_found', 'No such service');
    return { checkin: result.doc, created: result.created, counts: result.counts ?? (await this.counts(user, serviceId)) };
  }

  async counts(user: AuthUser, serviceId: string): Promise<ServiceCounts> {
    const counts = (await this.repo.counts(user.tenantId, [serviceId])).get(serviceId);
    if (!counts) throw new NotFoundError('service_not_found', 'No such service');
    return { serviceId, totalCheckins: counts.total, currentAttendance: counts.present, timestamp: new Date().toISOString() };
  }

  /**
   * Services under way, for pollers: tenant-wide ones and those of the caller's site (leaders,
   * admins and the host: every site, or `siteId`'s).
   */
  async liveCounts(user: AuthUser, siteId?: string): Promise<LiveCountsResponse> {
    const timestamp = new Date().toISOString();
    const site = isPrivileged(user) ? 'all' : await this.repo.memberSite(user.tenantId, user.userId);
    const rows = await this.repo.liveCounts(user.tenantId, site, siteId);
    return {
      services: rows.map((r) => ({
        serviceId: r.id,
        name: r.name,
        ...(r.siteId ? { siteId: r.siteId } : {}),
        startsAt: r.startsAt.toISOString(),
        endsAt: r.endsAt.toISOString(),
        totalCheckins: r.total,
        currentAttendance: r.present,
        timestamp,
      })),
      timestamp,
    };
  }

  /**
   * In a write's transaction: records `service:count_update` for each of these services with its
   * counts as of that write. The channel's sequence lock is taken first, so the counts read after it
   * include every earlier writer's check-ins and the updates reach the log in order, never stale.
   */
  async recordCounts(tx: OutboxTransaction, tenantId: string, serviceIds: string[]): Promise<ServiceCounts[]> {
    // A site's services publish on its channel, tenant-wide ones on service:counts.
    const sites = await this.repo.serviceSites(tx.em, tenantId, serviceIds);
    await tx.lockChannels([...new Set([...sites.values()].map((s) => channelKey(tenantId, countsChannel(s))))]);
    const counts = await this.repo.counts(tenantId, serviceIds, tx.em);
    const timestamp = new Date().toISOString();
    const payloads = [...counts].map(([serviceId, c]) => ({ serviceId, totalCheckins: c.total, currentAttendance: c.present, timestamp }));
    await tx.record(payloads.map((p) => realtimeEvent(tenantId, countsChannel(sites.get(p.serviceId) ?? null), 'service:count_update', p)));
    return payloads;
  }

  /**
   * Stores the announcement with, in the same transaction, `announcement:new` on the tenant's
   * `announcements` channel and the push to the roles named (the church community app's createAnnouncement).
   * A site's announcement goes to `site:<siteId>` instead, and is pushed to that site's members with those roles.
   */
  async announce(user: AuthUser, dto: CreateAnnouncementDto): Promise<Doc> {
    const siteId = dto.siteId ?? null;
    const roles = [...(dto.roles ?? ANNOUNCEMENT_ROLES)];
    return this.outbox.transaction(async (tx) => {
      const doc = await this.repo.insertAnnouncement(
        tx.em,
        user.tenantId,
        user.userId,
        dto.title,
        dto.content,
        dto.priority ?? 'normal',
        siteId,
      );
      await tx.record([
        realtimeEvent(user.tenantId, siteId ? siteChannel(siteId) : 'announcements', 'announcement:new', {
          id: doc.id as string,
          title: doc.title as string,
          content: doc.content as string,
          priority: doc.priority as string,
          createdAt: doc.createdAt as string,
          ...(siteId ? { siteId } : {}),
        }),
      ]);
      const siteMembers = siteId ? await this.repo.siteMembers(tx.em, user.tenantId, siteId, roles, MAX_SITE_RECIPIENTS) : undefined;
      if (siteMembers && !siteMembers.length) return doc;
      const recipients: NotifyRecipients = siteMembers ? { userIds: siteMembers } : { roles };
      await this.notifications.notifyIn(tx, {
        tenantId: user.tenantId,
        recipients,
        title: dto.title,
        body: dto.content.slice(0, 240),
        category: 'announcement',
        priority: dto.priority === 'high' || dto.priority === 'urgent' ? 'high' : 'normal',
        data: { announcementId: doc.id as string },
        idempotencyKey: `announcement:${doc.id as string}`,
      });
      return doc;
    });
  }
}

function assertOrder(startsAt: string, endsAt: string | null): void {
  if (endsAt !== null && new Date(endsAt).getTime() < new Date(startsAt).getTime())
    throw invalidField('endsAt', 'endsAt must not be before startsAt');
}
