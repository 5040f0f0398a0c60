export const CATEGORIES = ['message', 'booking', 'announcement', 'promotion', 'system'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Fan-out: one job per notification (job id from the notification id, so enqueueing twice sends once). */
export const NOTIFICATIONS_QUEUE = 'notifications';
/** Delivery: jobs of at most DELIVERY_BATCH devices, spread over every worker. */
export const DELIVERY_QUEUE = 'push-delivery';

export const DELIVERY_BATCH = 500;
/** Devices read per fan-out page. */
export const FANOUT_PAGE = 20_000;
/** Largest user list one notify() takes. */
export const MAX_USER_IDS = 10_000;
