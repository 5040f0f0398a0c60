import { isoSql } from '../sync/sync.sql';

/**
 * The JSON documents clients receive, built by PostgreSQL from a row aliased `r`. The change feed,
 * the REST responses and bulk conflict answers all use these, so a row looks the same everywhere.
 */
export const EVENT_COLUMNS = ['title', 'description', 'location', 'starts_at', 'ends_at', 'capacity', 'visibility', 'version', 'created_at', 'updated_at'];
export const EVENT_DOC = `json_build_object('id', r.id, 'title', r.title, 'description', r.description, 'location', r.location,
  'startsAt', ${isoSql('r.starts_at')}, 'endsAt', ${isoSql('r.ends_at')}, 'capacity', r.capacity, 'visibility', r.visibility,
  'version', r.version, 'createdAt', ${isoSql('r.created_at')}, 'updatedAt', ${isoSql('r.updated_at')})`;

export const MEMBER_COLUMNS = ['user_id', 'display_name', 'roles', 'status', 'version', 'updated_at'];
export const MEMBER_DOC = `json_build_object('id', r.id, 'userId', r.user_id, 'displayName', r.display_name, 'roles', r.roles,
  'status', r.status, 'version', r.version, 'updatedAt', ${isoSql('r.updated_at')})`;

export const RSVP_COLUMNS = ['event_id', 'user_id', 'status', 'offline_id', 'client_updated_at', 'version', 'updated_at'];
export const RSVP_DOC = `json_build_object('id', r.id, 'eventId', r.event_id, 'userId', r.user_id, 'status', r.status,
  'offlineId', r.offline_id, 'clientUpdatedAt', ${isoSql('r.client_updated_at')}, 'version', r.version, 'updatedAt', ${isoSql('r.updated_at')})`;

export const CHECKIN_COLUMNS = ['service_id', 'user_id', 'checkin_time', 'checkout_time', 'offline_id', 'recorded_by', 'version', 'updated_at'];
export const CHECKIN_DOC = `json_build_object('id', r.id, 'serviceId', r.service_id, 'userId', r.user_id,
  'checkinTime', ${isoSql('r.checkin_time')}, 'checkoutTime', ${isoSql('r.checkout_time')}, 'offlineId', r.offline_id,
  'recordedBy', r.recorded_by, 'version', r.version, 'updatedAt', ${isoSql('r.updated_at')})`;

export const SERVICE_DOC = `json_build_object('id', r.id, 'name', r.name, 'location', r.location,
  'startsAt', ${isoSql('r.starts_at')}, 'endsAt', ${isoSql('r.ends_at')}, 'version', r.version, 'updatedAt', ${isoSql('r.updated_at')})`;

export const ANNOUNCEMENT_DOC = `json_build_object('id', r.id, 'title', r.title, 'content', r.content, 'priority', r.priority,
  'createdAt', ${isoSql('r.created_at')})`;

/**
 * Visibility comes from the caller's member record (kept by the host backend through
 * PUT /members), not from the token: a change of roles is then a change in the data that the
 * feed can follow (access_xid). Leaders and admins see everything of their tenant.
 * The RSVP handler (migration CreateCommunity) applies the same rule to events.
 */
const PRIVILEGED = `EXISTS (SELECT 1 FROM community_members m
   WHERE m.tenant_id = {tenant} AND m.user_id = {user} AND m.deleted_at IS NULL
     AND m.status = 'active' AND m.roles && ARRAY['LEADER', 'ADMIN'])`;

/** Public events: everyone in the tenant. Private events: invitees, leaders and admins. */
export const EVENT_VISIBLE = `r.visibility = 'public' OR ${PRIVILEGED}
  OR EXISTS (SELECT 1 FROM community_event_invites i WHERE i.event_id = r.id AND i.user_id = {user} AND i.deleted_at IS NULL)`;
/** Active members: everyone. Inactive ones: themselves, leaders and admins. */
export const MEMBER_VISIBLE = `r.status = 'active' OR r.user_id = {user} OR ${PRIVILEGED}`;
/** RSVPs and check-ins: their member, leaders and admins. */
export const OWN_VISIBLE = `r.user_id = {user} OR ${PRIVILEGED}`;
