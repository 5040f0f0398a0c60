/**
 * FCM topic names for a tenant and its roles. FCM allows `[a-zA-Z0-9-_.~%]` only; tenant ids and
 * roles are percent-encoded down to letters and digits (even `-`), so the first `-` after the tenant
 * part always ends it: tenant `a` topic `b-x` can never be tenant `a-b` topic `x`.
 */
export const TOPIC_NAME = /^[A-Za-z0-9_.~%-]{1,200}$/;

function encodePart(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Every device of the tenant: `t-<tenant>`. */
export function tenantTopic(tenantId: string): string {
  return `t-${encodePart(tenantId)}`;
}

/** Every device of users with a role: `t-<tenant>-role-<role>` (role lowercased). */
export function roleTopic(tenantId: string, role: string): string {
  return `${tenantTopic(tenantId)}-role-${encodePart(role.toLowerCase())}`;
}

/** A tenant-relative topic (`role-member`, or one an app defines) as FCM knows it. */
export function scopedTopic(tenantId: string, name: string): string {
  if (!TOPIC_NAME.test(name)) throw new Error(`invalid topic name ${name}`);
  return `${tenantTopic(tenantId)}-${name}`;
}

/** The topics a device is subscribed to: its tenant's and one per role of its user, sorted. */
export function deviceTopics(tenantId: string, roles: readonly string[]): string[] {
  return [...new Set([tenantTopic(tenantId), ...roles.map((r) => roleTopic(tenantId, r))])].sort();
}

/**
 * Who a topic send reaches, for providers without topics (Expo), whose devices are sent to one by
 * one instead: the tenant topic is every device, a role topic the devices of that role's users.
 * Null for any other topic: only devices subscribed through FCM get those.
 */
export function topicAudience(tenantId: string, topic: string, roles: readonly string[]): { all: true } | { roles: string[] } | null {
  if (topic === tenantTopic(tenantId)) return { all: true };
  const matching = roles.filter((r) => roleTopic(tenantId, r) === topic);
  return matching.length ? { roles: matching } : null;
}
