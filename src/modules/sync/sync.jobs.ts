/**
 * The sync queue: one periodic job, the purge of old tombstones, ledger entries and resume marks,
 * run by one worker process at a time (a BullMQ job scheduler). Not listed in /admin/queues: it
 * holds nothing an operator watches.
 */
export const SYNC_QUEUE = 'sync';
/** No data: SyncService.purge() reads what is due. */
export const JOB_PURGE = 'purge';
