import type { ExpoPushErrorReceipt, ExpoPushMessage } from 'expo-server-sdk';
import { alertSound, type PushFailure, type PushFailureKind, type PushPayload } from './push-sender';

/**
 * The Expo push message for a payload, minus its `to` (docs.expo.dev "Message request format").
 *
 * - priority: high stays high; normal and low are Expo's `normal` (APNs priority 5 on iOS).
 * - silent (no title and no body): `contentAvailable` (an iOS background push), no sound.
 * - sound: `default` on alert pushes but low priority ones, unless the payload names one (or `none`);
 *   badge: the payload's (a target's own badge is set by the sender).
 * - collapse key: `collapseId` (iOS) and `tag` (Android), so a newer push replaces the older one.
 * - TTL: an absolute `expiration` from the notification's creation, so a retry never extends it;
 *   0 is `ttl: 0`, "now or never".
 */
export function expoMessageFor(payload: PushPayload): Omit<ExpoPushMessage, 'to'> {
  const silent = !payload.title && !payload.body;
  const message: Omit<ExpoPushMessage, 'to'> = {
    data: payload.data,
    priority: payload.priority === 'high' ? 'high' : 'normal',
  };
  if (payload.title) message.title = payload.title;
  if (payload.body) message.body = payload.body;
  if (silent) message.contentAvailable = true;
  const sound = alertSound(payload);
  if (sound) message.sound = sound;
  if (payload.badge !== undefined) message.badge = payload.badge;
  if (payload.collapseKey) {
    message.collapseId = payload.collapseKey;
    message.tag = payload.collapseKey;
  }
  if (payload.ttlSeconds === 0) message.ttl = 0;
  else if (payload.ttlSeconds !== undefined) message.expiration = Math.floor((payload.createdAt + payload.ttlSeconds * 1000) / 1000);
  return message;
}

type ExpoErrorName = NonNullable<NonNullable<ExpoPushErrorReceipt['details']>['error']>;

/** Expo's per-message errors (in tickets and receipts), by what Tether does about them. */
const KIND_BY_EXPO_ERROR: Record<ExpoErrorName, PushFailureKind> = {
  DeviceNotRegistered: 'token',
  MessageTooBig: 'payload',
  DeveloperError: 'payload', // the message is malformed for the platform (e.g. an unknown channelId)
  InvalidCredentials: 'config', // the app's FCM/APNs credentials uploaded to Expo are wrong
  MessageRateExceeded: 'retry', // one device gets too much: retry it later
  ExpoError: 'retry',
  ProviderError: 'retry',
};

/** Classifies an error ticket or error receipt. */
export function classifyExpoTicketError(ticket: Pick<ExpoPushErrorReceipt, 'message' | 'details'>): PushFailure {
  const name = ticket.details?.error;
  return { kind: (name && KIND_BY_EXPO_ERROR[name]) || 'retry', code: `expo/${name ?? 'unknown-error'}`, message: ticket.message };
}

/**
 * Classifies a rejected send or receipts request (the SDK throws with `statusCode` and Expo's
 * `code`): 429 (over Expo's 600 notifications/s) and 5xx are transient, as are network errors;
 * 401/403 mean a missing or wrong EXPO_ACCESS_TOKEN; any other 4xx is a request Expo will never take.
 */
export function classifyExpoRequestError(error: unknown): PushFailure {
  const { statusCode, code, message } = (error ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof statusCode === 'number' ? statusCode : undefined;
  const text = typeof message === 'string' ? message : String(error);
  const name = typeof code === 'string' && code ? code : status ? `http-${status}` : 'network-error';
  let kind: PushFailureKind = 'retry';
  if (status === 401 || status === 403) kind = 'config';
  else if (status !== undefined && status >= 400 && status < 500 && status !== 429) kind = 'payload';
  return { kind, code: `expo/${name}`, message: text };
}
