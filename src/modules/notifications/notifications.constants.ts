export const CATEGORIES = ['message', 'booking', 'announcement', 'promotion', 'system'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Devices per delivery job. */
export const DELIVERY_BATCH = 500;
/** Devices read per fan-out page. */
export const FANOUT_PAGE = 20_000;
/** Largest user list one notify() takes. */
export const MAX_USER_IDS = 10_000;
