/**
 * The church community app's limit: 5 registrations per minute per user, counted in Redis across
 * pods; one bucket for every registration route (POST /devices/register and the booking app's
 * Expo route /api/v1/users/push-token).
 */
export const DEVICE_REGISTER_THROTTLE = {
  default: {
    limit: 5,
    ttl: 60_000,
    generateKey: (_context: unknown, tracker: string, name: string) => `device-register:${name}:${tracker}`,
  },
};

/** Registrations within this window share one topic sync job. */
export const TOPIC_SYNC_DELAY_MS = 1000;
/** Devices one sync job looks at, and topic calls it makes at most (each ≤1000 tokens). */
export const TOPIC_SYNC_BATCH = 1000;
export const TOPIC_SYNC_MAX_CALLS = 50;
/** FCM advises refreshing subscriptions monthly. */
export const TOPIC_REFRESH_DAYS = 30;

/** Tickets one receipts job reads (the SDK asks Expo for 300 ids per request). */
export const EXPO_RECEIPT_BATCH = 3000;
/** Expo keeps receipts for about a day: a ticket still unanswered by then is dropped. */
export const EXPO_TICKET_MAX_AGE_MS = 24 * 3600 * 1000;
