/**
 * The devices queue and its jobs: topic (un)subscriptions, Expo receipts and maintenance, at a low
 * rate (FCM allows 3000 QPS per project). Only worker processes run them.
 */
export const DEVICES_QUEUE = 'devices';
export const DEVICES_QUEUE_LIMIT = { max: 5, duration: 1000 };

/** Subscribes flagged devices to their topics (no data: the rows say what to do). */
export const JOB_SYNC_TOPICS = 'sync-topics';
/** Unsubscribes removed devices' tokens from one topic. */
export const JOB_UNSUBSCRIBE = 'unsubscribe';
/** Reads Expo receipts of tickets whose delay has passed (EXPO_RECEIPT_DELAY_MS); no data. */
export const JOB_EXPO_RECEIPTS = 'expo-receipts';
/** Prunes stale devices, refreshes old subscriptions, sweeps old tickets; no data. */
export const JOB_MAINTENANCE = 'maintenance';
export const MAINTENANCE_SCHEDULER = 'device-maintenance';
export const MAINTENANCE_EVERY_MS = 6 * 3600 * 1000;

export interface UnsubscribeJob {
  provider: string;
  topic: string;
  /** At most 1000 (one provider call). */
  tokens: string[];
}
