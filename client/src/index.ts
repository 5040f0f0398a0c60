// @tether/client: the public surface. Parts are filled in module by module.
export { TetherHttpError, TetherNetworkError, isRetryable } from './errors';
export { memoryStorage } from './storage';
export type { TetherStorage } from './storage';
export type { TokenProvider } from './tokens';
export { uuid } from './ids';
export { SyncClient } from './sync';
export type { SyncPage, ChangesPage, SyncOptions, SyncCollection } from './sync';
export { MutationQueue } from './mutations';
export type { MutationKind, QueuedMutation, MutationResult, QueueStatus, MutationQueueOptions } from './mutations';
export { MessagesClient } from './messages';
export type { Message, PendingMessage, MessagesOptions } from './messages';
