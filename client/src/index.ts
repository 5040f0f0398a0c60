// @tether/client: the public surface.
export { TetherClient, TetherSocketError } from './client';
export type { ConnectionState, LifecycleSource, Session, TetherOptions } from './client';
export { Subscription } from './subscriptions';
export type { ChannelTokenProvider, EventHandler, EventMeta, SubscribeAck, SubscribeOptions, SubscriptionState } from './subscriptions';
export { Presence } from './presence';
export type { PresenceState } from './presence';
export type { PollingOptions } from './polling';
export { backoffDelay } from './backoff';
export type { BackoffOptions } from './backoff';
export { TetherHttpError, TetherNetworkError, isRetryable } from './errors';
export { memoryStorage } from './storage';
export type { TetherStorage } from './storage';
export type { TokenProvider } from './tokens';
export type { ClientContext, SocketLink } from './context';
export { uuid } from './ids';
