/**
 * The realtime module's public surface: what other modules may import. Publishing (RealtimeService),
 * presence, typing, the registries a domain plugs into (channel policies, client events) and the
 * channel names. The gateway, the event log and the socket plumbing stay inside. Domains add their
 * server events by augmenting `ServerEvents` in './realtime.events' (declaration merging needs the
 * declaring file, not this re-export).
 */
export { RealtimeModule } from './realtime.module';
export { RealtimeService } from './realtime.service';
export { PresenceService } from './presence.service';
export { TypingRelay } from './typing-relay';
export { ChannelPolicyRegistry } from './channels/channel-policy.registry';
export type { PolicyDecision } from './channels/channel-policy.registry';
export { ClientEventRegistry, parsePayload } from './client-event.registry';
export type { SocketContext } from './client-event.registry';
export { tokenFor } from './channel-subscriptions';
export { channelOfRoom, parseChannel, userChannel } from './channels/channel';
export type { Channel } from './channels/channel';
export { EVENT_NAME_PATTERN, externalEvent } from './realtime.events';
