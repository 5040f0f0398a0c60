/**
 * The realtime module's public surface: what other modules may import. Publishing (RealtimeService,
 * and realtimeEvent for the outbox), channel names and policies, presence, client events, typing.
 */
export { RealtimeModule } from './realtime.module';
export { RealtimeService, realtimeEvent, REALTIME_EVENT } from './realtime.service';
export type { LiveOptions, RealtimeEventPayload } from './realtime.service';
export { channelOfRoom, parseChannel, presenceChannel, userChannel } from './channels/channel';
export { EVENT_NAME_PATTERN, externalEvent } from './realtime.events';
export type { Channel } from './channels/channel';
export { ChannelPolicyRegistry } from './channels/channel-policy.registry';
export type { ChannelContext, ChannelPolicy, PolicyDecision } from './channels/channel-policy.registry';
export { tokenFor } from './channel-subscriptions';
export { ClientEventRegistry, parsePayload } from './client-event.registry';
export type { ClientEventHandler, ClientEventOptions, SocketContext } from './client-event.registry';
export { PresenceService } from './presence.service';
export type { PresenceState, Reachability } from './presence.service';
export { DeliveryIds } from './delivery-ids';
export { ChannelPresence } from './channel-presence';
export { TypingRelay } from './typing-relay';
export type { TypingAudience } from './typing-relay';
