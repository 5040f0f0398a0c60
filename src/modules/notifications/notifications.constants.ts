export const CATEGORIES = ['message', 'booking', 'announcement', 'promotion', 'system'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Devices per delivery job. */
export const DELIVERY_BATCH = 500;
/** Devices read per fan-out page. */
export const FANOUT_PAGE = 20_000;
/** Devices of a fan-out's first page (pages then grow fourfold up to FANOUT_PAGE): delivery starts after a small read. */
export const FIRST_FANOUT_PAGE = 2 * DELIVERY_BATCH;
/** Fan-out pages read ahead of the one being enqueued. */
export const READ_AHEAD = 2;
/** Largest user list one notify() takes. */
export const MAX_USER_IDS = 10_000;
