import type { Aps, BaseMessage } from 'firebase-admin/messaging';
import { alertSound, type PushPayload } from './push-sender';

/**
 * The FCM message for a payload, minus its target. Every platform section is set, so that all the
 * messages of a batch are identical but for the token and the iOS badge (classifyFcmError relies on
 * it: a badge number never makes a payload invalid).
 *
 * - priority: android.priority high/normal; apns-priority 10 (high) or 5; web push Urgency.
 * - silent (data-only, no title and no body): no notification block, apns-push-type background
 *   with content-available: 1 and apns-priority 5 (APNs rejects background pushes at 10).
 * - sound and badge (iOS): apns.payload.aps.sound (`default` on alert pushes but low priority
 *   ones, or the payload's) and aps.badge (the payload's; a target's own badge: withBadge).
 * - collapse key: android.collapseKey, the Android notification's tag, and apns-collapse-id.
 * - TTL: android.ttl (milliseconds left), apns-expiration (absolute), web push TTL; measured from
 *   the notification's creation, so a retry never extends it; 0 means "now or never".
 */
export function fcmMessageFor(payload: PushPayload, now = Date.now()): BaseMessage {
  const silent = !payload.title && !payload.body;
  const high = payload.priority === 'high';

  let androidTtl: number | undefined;
  let apnsExpiration: string | undefined;
  let webTtl: string | undefined;
  if (payload.ttlSeconds !== undefined) {
    if (payload.ttlSeconds === 0) {
      androidTtl = 0;
      apnsExpiration = '0';
      webTtl = '0';
    } else {
      const expiresAt = payload.createdAt + payload.ttlSeconds * 1000;
      androidTtl = Math.max(0, expiresAt - now);
      apnsExpiration = String(Math.floor(expiresAt / 1000));
      webTtl = String(Math.ceil(androidTtl / 1000));
    }
  }

  const apnsHeaders: Record<string, string> = {
    'apns-priority': high && !silent ? '10' : '5',
    'apns-push-type': silent ? 'background' : 'alert',
  };
  if (payload.collapseKey) apnsHeaders['apns-collapse-id'] = payload.collapseKey;
  if (apnsExpiration !== undefined) apnsHeaders['apns-expiration'] = apnsExpiration;

  const aps: Aps = {};
  if (silent) aps.contentAvailable = true;
  const sound = alertSound(payload);
  if (sound) aps.sound = sound;
  if (payload.badge !== undefined) aps.badge = payload.badge;

  const webHeaders: Record<string, string> = { Urgency: payload.priority };
  if (webTtl !== undefined) webHeaders.TTL = webTtl;

  const message: BaseMessage = {
    data: payload.data,
    android: {
      priority: high ? 'high' : 'normal',
      ...(payload.collapseKey ? { collapseKey: payload.collapseKey } : {}),
      ...(androidTtl !== undefined ? { ttl: androidTtl } : {}),
      ...(!silent && (payload.priority === 'low' || payload.collapseKey)
        ? {
            notification: {
              ...(payload.priority === 'low' ? { priority: 'low' as const } : {}),
              // The shown notification's tag: a newer one replaces it, and a `tether.dismiss` names it.
              ...(payload.collapseKey ? { tag: payload.collapseKey } : {}),
            },
          }
        : {}),
    },
    apns: { headers: apnsHeaders, ...(Object.keys(aps).length ? { payload: { aps } } : {}) },
    webpush: { headers: webHeaders },
  };
  if (!silent) {
    message.notification = {};
    if (payload.title) message.notification.title = payload.title;
    if (payload.body) message.notification.body = payload.body;
  }
  return message;
}

/** The message with a target's own badge in its APNs block (the only part that differs between targets). */
export function withBadge(message: BaseMessage, badge: number | undefined): BaseMessage {
  if (badge === undefined) return message;
  const apns = message.apns ?? {};
  return { ...message, apns: { ...apns, payload: { ...apns.payload, aps: { ...apns.payload?.aps, badge } } } };
}
