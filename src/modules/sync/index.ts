/**
 * The sync module's public surface: what other modules may import. The registry a domain adds its
 * collections and offline mutations to, the bulk-mutation service and its envelope, the guards of
 * sync routes, and the SQL helper for a collection's JSON documents.
 */
export { SyncModule } from './sync.module';
export { SyncRegistry } from './sync.registry';
export type { PreparedItem } from './sync.registry';
export { SyncMutationService } from './sync-mutation.service';
export type { BulkItemResult } from './sync-mutation.service';
export { BulkEnvelope, BulkItemBase, BulkResponse } from './dto/sync.dto';
export { BulkSizeGuard } from './bulk-size.guard';
export { SyncThrottle } from './sync-throttle.guard';
export { jsonObjectSql } from './sync.sql';
