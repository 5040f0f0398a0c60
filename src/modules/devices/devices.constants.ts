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
