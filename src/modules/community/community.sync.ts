import type { AuthUser } from '../../core/auth/auth-user';
import type { PreparedItem, SyncRegistry } from '../sync';
import {
  CHECKIN_COLUMNS,
  CHECKIN_DOC,
  EVENT_COLUMNS,
  EVENT_DOC,
  EVENT_VISIBLE,
  MEMBER_ACCESS_AFFECTS,
  MEMBER_COLUMNS,
  MEMBER_DOC,
  MEMBER_VISIBLE,
  OWN_VISIBLE,
  RSVP_COLUMNS,
  RSVP_DOC,
} from './community.sql';
import { PRIVILEGED_ROLES, type CommunityService } from './community.service';
import { CheckinItemDto, RsvpItemDto } from './dto/community-bulk.dto';

/** A member's own record: when their roles or status change, so does what they may see. */
const OWN_ACCESS = { table: 'community_members', xidColumn: 'access_xid', userColumn: 'user_id' };
const iso = (v: string) => new Date(v).toISOString();

/** The collections and offline mutations the community domain offers through sync. */
export function registerCommunitySync(registry: SyncRegistry, community: CommunityService): void {
  // Registration order is purge order: rows that reference events go before events.
  registry.registerCollection({
    name: 'members',
    table: 'community_members',
    columns: MEMBER_COLUMNS,
    visibleTo: MEMBER_VISIBLE,
    serialize: MEMBER_DOC,
    access: [{ ...OWN_ACCESS, affects: MEMBER_ACCESS_AFFECTS }],
  });
  registry.registerCollection({
    name: 'rsvps',
    table: 'community_rsvps',
    columns: RSVP_COLUMNS,
    visibleTo: OWN_VISIBLE,
    serialize: RSVP_DOC,
    access: [{ ...OWN_ACCESS, affects: `r.user_id <> {user}` }],
  });
  registry.registerCollection({
    name: 'checkins',
    table: 'community_checkins',
    columns: CHECKIN_COLUMNS,
    visibleTo: OWN_VISIBLE,
    serialize: CHECKIN_DOC,
    access: [{ ...OWN_ACCESS, affects: `r.user_id <> {user}` }],
  });
  registry.registerCollection({
    name: 'events',
    table: 'community_events',
    columns: EVENT_COLUMNS,
    visibleTo: EVENT_VISIBLE,
    serialize: EVENT_DOC,
    access: [
      { table: 'community_event_invites', xidColumn: 'sync_xid', userColumn: 'user_id', targetColumn: 'event_id' },
      { ...OWN_ACCESS, affects: `r.visibility = 'private'` },
    ],
  });

  registry.registerMutation<CheckinItemDto>({
    kind: 'checkins',
    collection: 'checkins',
    handler: 'community_apply_checkin_v2',
    item: CheckinItemDto,
    prepare: (item, caller) => prepareCheckin(item, caller),
    record: async (tx, caller, applied) => {
      await community.recordCounts(tx, caller.tenantId, [...new Set(applied.map((a) => a.item.serviceId))]);
    },
  });
  registry.registerMutation<RsvpItemDto>({
    kind: 'rsvps',
    collection: 'rsvps',
    handler: 'community_apply_rsvp_v2',
    item: RsvpItemDto,
    prepare: (item, caller) => prepareRsvp(item, caller),
  });
}

/** An RSVP is the caller's own, unless a leader, an admin or the host answers for someone else. */
export function prepareRsvp(item: RsvpItemDto, caller: AuthUser): PreparedItem {
  const userId = item.userId ?? caller.userId;
  if (userId !== caller.userId && !caller.roles.some((r) => PRIVILEGED_ROLES.includes(r)))
    return { error: { code: 'forbidden', message: 'Only leaders and admins may answer for someone else' } };
  return {
    data: {
      offlineId: item.offlineId,
      eventId: item.eventId,
      userId,
      status: item.status,
      clientUpdatedAt: item.clientUpdatedAt ? iso(item.clientUpdatedAt) : null,
      baseVersion: item.baseVersion ?? null,
    },
  };
}

/** A check-in is the caller's own, unless a leader or admin (a kiosk) records someone else's. */
export function prepareCheckin(item: CheckinItemDto, caller: AuthUser): PreparedItem {
  const userId = item.userId ?? caller.userId;
  if (userId !== caller.userId && !caller.roles.some((r) => PRIVILEGED_ROLES.includes(r)))
    return { error: { code: 'forbidden', message: 'Only leaders and admins may check in someone else' } };
  if (item.checkoutTime && new Date(item.checkoutTime) < new Date(item.checkinTime))
    return { error: { code: 'validation_failed', message: 'checkoutTime must not be before checkinTime' } };
  return {
    data: {
      offlineId: item.offlineId,
      serviceId: item.serviceId,
      userId,
      checkinTime: iso(item.checkinTime),
      checkoutTime: item.checkoutTime ? iso(item.checkoutTime) : null,
      clientUpdatedAt: item.clientUpdatedAt ? iso(item.clientUpdatedAt) : null,
      baseVersion: item.baseVersion ?? null,
    },
  };
}
