import type { PushPayload } from '../devices';

/** Fan-out: one job per notification (job id from the notification id, so enqueueing twice sends once). */
export const NOTIFICATIONS_QUEUE = 'notifications';
export const JOB_FANOUT = 'fanout';

/** Delivery: jobs of at most DELIVERY_BATCH devices of one notification, spread over every worker. */
export const DELIVERY_QUEUE = 'push-delivery';
export const JOB_DELIVER = 'deliver';

export interface FanoutJob {
  notificationId: string;
  /** Whose rows the job may see (row-level security); jobs enqueued before it was added have none. */
  tenantId?: string;
  /** Saved after each page, so that a retried fan-out resumes where it stopped. */
  progress?: FanoutProgress;
  /** Push every recipient now, acknowledging devices or not (NotifyInput.immediate). */
  immediate?: boolean;
}

export interface FanoutProgress {
  /** Last device id paged. */
  after: string | null;
  /** Delivery jobs enqueued so far (their ids are deliveryJobId(notification, index)). */
  chunks: number;
  /** Devices kept for the next delivery job. */
  pending: string[];
  /** A topic notification's FCM topic send is done (a retry only resumes the Expo fan-out). */
  topicSent?: boolean;
  /** The FCM topic it went to. */
  topic?: string;
}

/** Device ids only: tokens are read fresh when the job runs. */
export interface DeliveryJob {
  notificationId: string;
  tenantId: string;
  deviceIds: string[];
  payload: PushPayload;
  /**
   * The iOS badge of each device, in deviceIds' order: its owner's unread count at fan-out (null:
   * none counted). An array of numbers, because the job is parsed on every attempt: a 500-key object
   * cost several times the rest of the job to parse.
   */
  deviceBadges?: (number | null)[];
  /** The same per owner (user id -> unread count), in jobs enqueued before deviceBadges. */
  badges?: Record<string, number>;
  /** Keep per-device receipts of this push (user recipients; not broadcasts to roles or the tenant). */
  receipts?: boolean;
  /** Times the provider answered "over quota" for this job (those pauses do not use up attempts). */
  quotaHits?: number;
}

export function fanoutJobId(notificationId: string): string {
  return `n-${notificationId}`;
}

export function deliveryJobId(notificationId: string, index: number): string {
  return `d-${notificationId}-${index}`;
}
