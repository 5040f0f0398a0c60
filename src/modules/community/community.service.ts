import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { AuthUser } from '../../core/auth/auth-user';
import { ForbiddenError, invalidField, NotFoundError } from '../../core/http/domain-error';
import { channelKey, OutboxService, type OutboxTransaction } from '../../core/outbox';
import { NotificationsService } from '../notifications';
import { realtimeEvent } from '../realtime';
import { ANNOUNCEMENT_ROLES } from './dto/community.dto';
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
    const fields: ServiceFields = { name: dto.name, location: dto.location ?? null, startsAt, endsAt };
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
    if (member !== user.userId) {
      if (!isPrivileged(user)) throw new ForbiddenError('forbidden', 'Only leaders and admins may check in someone else');
      if (!(await this.repo.memberExists(user.tenantId, member))) throw new NotFoundError('member_not_found', 'No such member');
    }
    const checkinTime = dto.checkinTime ? new Date(dto.checkinTime) : new Date();
    const result = await this.outbox.transaction(async (tx) => {
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

  async liveCounts(user: AuthUser): Promise<LiveCountsResponse> {
    const timestamp = new Date().toISOString();
    const rows = await this.repo.liveCounts(user.tenantId);
    return {
      services: rows.map((r) => ({
        serviceId: r.id,
        name: r.name,
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
    await tx.lockChannels([channelKey(tenantId, 'service:counts')]);
    const counts = await this.repo.counts(tenantId, serviceIds, tx.em);
    const timestamp = new Date().toISOString();
    const payloads = [...counts].map(([serviceId, c]) => ({ serviceId, totalCheckins: c.total, currentAttendance: c.present, timestamp }));
    await tx.record(payloads.map((p) => realtimeEvent(tenantId, 'service:counts', 'service:count_update', p)));
    return payloads;
  }

  /**
   * Stores the announcement with, in the same transaction, `announcement:new` on the tenant's
   * `announcements` channel and the push to the roles named (the church community app's createAnnouncement).
   */
  async announce(user: AuthUser, dto: CreateAnnouncementDto): Promise<Doc> {
    return this.outbox.transaction(async (tx) => {
      const doc = await this.repo.insertAnnouncement(tx.em, user.tenantId, user.userId, dto.title, dto.content, dto.priority ?? 'normal');
      await tx.record([
        realtimeEvent(user.tenantId, 'announcements', 'announcement:new', {
          id: doc.id as string,
          title: doc.title as string,
          content: doc.content as string,
          priority: doc.priority as string,
          createdAt: doc.createdAt as string,
        }),
      ]);
      await this.notifications.notifyIn(tx, {
        tenantId: user.tenantId,
        recipients: { roles: [...(dto.roles ?? ANNOUNCEMENT_ROLES)] },
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
