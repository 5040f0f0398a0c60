/**
 * Seed 000: 5 registrations per minute per user, counted in Redis across pods; one bucket for
 * every registration route (POST /devices/register and seed 003's /api/v1/users/push-token).
 */
export const DEVICE_REGISTER_THROTTLE = {
  default: { limit: 5, ttl: 60_000, generateKey: (_context: unknown, tracker: string, name: string) => `device-register:${name}:${tracker}` },
};

/** The devices queue: topic (un)subscriptions and maintenance, at a low rate (FCM allows 3000 QPS per project). */
export const DEVICES_QUEUE = 'devices';
export const DEVICES_QUEUE_LIMIT = { max: 5, duration: 1000 };

export const JOB_SYNC_TOPICS = 'sync-topics';
export const JOB_UNSUBSCRIBE = 'unsubscribe';
export const JOB_MAINTENANCE = 'maintenance';

/** Registrations within this window share one topic sync job. */
export const TOPIC_SYNC_DELAY_MS = 1000;
/** Devices one sync job looks at, and topic calls it makes at most (each ≤1000 tokens). */
export const TOPIC_SYNC_BATCH = 1000;
export const TOPIC_SYNC_MAX_CALLS = 50;
/** FCM advises refreshing subscriptions monthly. */
export const TOPIC_REFRESH_DAYS = 30;
export const MAINTENANCE_EVERY_MS = 6 * 3600 * 1000;

/** Reads Expo receipts of tickets whose delay has passed (EXPO_RECEIPT_DELAY_MS). */
export const JOB_EXPO_RECEIPTS = 'expo-receipts';
/** Tickets one receipts job reads (the SDK asks Expo for 300 ids per request). */
export const EXPO_RECEIPT_BATCH = 3000;
/** Expo keeps receipts for about a day: a ticket still unanswered by then is dropped. */
export const EXPO_TICKET_MAX_AGE_MS = 24 * 3600 * 1000;
