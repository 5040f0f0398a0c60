/**
 * The sync module's public surface: what other modules may import. Registering collections and
 * offline mutations (SyncRegistry), applying bulk mutations (SyncMutationService) and the pieces of
 * a bulk route (guards, response shape); the SQL helpers a collection's documents are built with.
 */
export { SyncModule } from './sync.module';
export { SyncRegistry } from './sync.registry';
export type {
  AppliedMutation,
  ConflictStrategy,
  PreparedItem,
  SyncAccessRule,
  SyncCollectionDefinition,
  SyncMutationDefinition,
} from './sync.registry';
export { SyncMutationService } from './sync-mutation.service';
export type { BulkItemResult } from './sync-mutation.service';
export { BulkSizeGuard } from './bulk-size.guard';
export { SyncThrottle } from './sync-throttle.guard';
export { BulkEnvelope, BulkItemBase, BulkResponse } from './dto/sync.dto';
export { isoSql, jsonObjectSql } from './sync.sql';
export type { JsonField, JsonKind } from './sync.sql';
