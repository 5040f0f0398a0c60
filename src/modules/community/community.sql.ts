import { jsonObjectSql } from '../sync';

/**
 * The JSON documents clients receive, built by PostgreSQL from a row aliased `r`. The change feed,
 * the REST responses and bulk conflict answers all use these, so a row looks the same everywhere.
 */
export const EVENT_COLUMNS = [
  'title',
  'description',
  'location',
  'starts_at',
  'ends_at',
  'capacity',
  'visibility',
  'version',
  'created_at',
  'updated_at',
];
export const EVENT_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['title', 'r.title', 'text'],
  ['description', 'r.description', 'text'],
  ['location', 'r.location', 'text'],
  ['startsAt', 'r.starts_at', 'timestamp'],
  ['endsAt', 'r.ends_at', 'timestamp'],
  ['capacity', 'r.capacity', 'number'],
  ['visibility', 'r.visibility', 'text'],
  ['version', 'r.version', 'number'],
  ['createdAt', 'r.created_at', 'timestamp'],
  ['updatedAt', 'r.updated_at', 'timestamp'],
]);

export const MEMBER_COLUMNS = ['user_id', 'display_name', 'roles', 'status', 'site_id', 'version', 'updated_at'];
export const MEMBER_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['userId', 'r.user_id', 'text'],
  ['displayName', 'r.display_name', 'text'],
  ['roles', 'r.roles', 'json'],
  ['status', 'r.status', 'text'],
  ['siteId', 'r.site_id', 'text'],
  ['version', 'r.version', 'number'],
  ['updatedAt', 'r.updated_at', 'timestamp'],
]);

export const RSVP_COLUMNS = ['event_id', 'user_id', 'status', 'offline_id', 'client_updated_at', 'version', 'updated_at'];
export const RSVP_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['eventId', 'r.event_id', 'uuid'],
  ['userId', 'r.user_id', 'text'],
  ['status', 'r.status', 'text'],
  ['offlineId', 'r.offline_id', 'text'],
  ['clientUpdatedAt', 'r.client_updated_at', 'timestamp'],
  ['version', 'r.version', 'number'],
  ['updatedAt', 'r.updated_at', 'timestamp'],
]);

export const CHECKIN_COLUMNS = [
  'service_id',
  'user_id',
  'checkin_time',
  'checkout_time',
  'offline_id',
  'recorded_by',
  'version',
  'updated_at',
];
export const CHECKIN_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['serviceId', 'r.service_id', 'uuid'],
  ['userId', 'r.user_id', 'text'],
  ['checkinTime', 'r.checkin_time', 'timestamp'],
  ['checkoutTime', 'r.checkout_time', 'timestamp'],
  ['offlineId', 'r.offline_id', 'text'],
  ['recordedBy', 'r.recorded_by', 'text'],
  ['version', 'r.version', 'number'],
  ['updatedAt', 'r.updated_at', 'timestamp'],
]);

export const SERVICE_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['name', 'r.name', 'text'],
  ['location', 'r.location', 'text'],
  ['siteId', 'r.site_id', 'text'],
  ['startsAt', 'r.starts_at', 'timestamp'],
  ['endsAt', 'r.ends_at', 'timestamp'],
  ['version', 'r.version', 'number'],
  ['updatedAt', 'r.updated_at', 'timestamp'],
]);

export const ANNOUNCEMENT_DOC = jsonObjectSql([
  ['id', 'r.id', 'uuid'],
  ['title', 'r.title', 'text'],
  ['content', 'r.content', 'text'],
  ['priority', 'r.priority', 'text'],
  ['siteId', 'r.site_id', 'text'],
  ['createdAt', 'r.created_at', 'timestamp'],
]);

/**
 * Visibility comes from the caller's member record (kept by the host backend through
 * PUT /members), not from the token: a change of roles is then a change in the data that the
 * feed can follow (access_xid). Leaders and admins see everything of their tenant
 * (community_privileged(), migration CreateCommunity, which the RSVP handler uses for events too).
 */
const PRIVILEGED = `EXISTS (SELECT 1 FROM community_members m
   WHERE m.tenant_id = {tenant} AND m.user_id = {user} AND community_privileged(m.roles, m.status, m.deleted_at))`;

/** Public events: everyone in the tenant. Private events: invitees, leaders and admins. */
export const EVENT_VISIBLE = `r.visibility = 'public' OR ${PRIVILEGED}
  OR EXISTS (SELECT 1 FROM community_event_invites i WHERE i.event_id = r.id AND i.user_id = {user} AND i.deleted_at IS NULL)`;
/** The caller's site (NULL: none, or not a member yet). */
const CALLER_SITE = `(SELECT m.site_id FROM community_members m
   WHERE m.tenant_id = {tenant} AND m.user_id = {user} AND m.deleted_at IS NULL)`;

/**
 * Active members without a site (tenant-wide) and of the caller's own site: everyone there.
 * Members of other sites, and inactive ones: themselves, leaders and admins.
 */
export const MEMBER_VISIBLE = `(r.status = 'active' AND (r.site_id IS NULL OR r.site_id = ${CALLER_SITE}))
  OR r.user_id = {user} OR ${PRIVILEGED}`;
/** Rows whose visibility depends on the caller's own record (privilege and site): re-evaluated when it changes. */
export const MEMBER_ACCESS_AFFECTS = `r.status <> 'active' OR r.site_id IS NOT NULL`;
/** RSVPs and check-ins: their member, leaders and admins. */
export const OWN_VISIBLE = `r.user_id = {user} OR ${PRIVILEGED}`;
