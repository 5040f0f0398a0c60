/**
 * The devices module's public surface: what other modules may import. Registration and recipients
 * (DevicesService), delivery to devices and topics (DevicePushService) and the provider-neutral
 * push payload; the providers, their tokens and receipts stay inside.
 */
export { DevicesModule } from './devices.module';
export { DevicesService } from './devices.service';
export type { RecipientDevice, Recipients } from './devices.service';
export { DevicePushService } from './device-push.service';
export type { DeliveryResult, DevicePushOutcome, TopicSendResult } from './device-push.service';
export { MAX_BADGE, PUSH_PRIORITIES, PUSH_SOUND_PATTERN } from './push/push-sender';
export type { PushPayload, PushPriority } from './push/push-sender';
