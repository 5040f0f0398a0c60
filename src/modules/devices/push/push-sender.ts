export const PLATFORMS = ['ios', 'android', 'web'] as const;
export type Platform = (typeof PLATFORMS)[number];
/** What a device row holds: `unknown` for an Expo token registered without a platform. */
export const DEVICE_PLATFORMS = [...PLATFORMS, 'unknown'] as const;
export type DevicePlatform = (typeof DEVICE_PLATFORMS)[number];

/** Who carries a device's pushes; derived from the token's form when the device registers (push-tokens.ts). */
export const PUSH_PROVIDERS = ['fcm', 'expo'] as const;
export type PushProvider = (typeof PUSH_PROVIDERS)[number];

export const PUSH_PRIORITIES = ['high', 'normal', 'low'] as const;
export type PushPriority = (typeof PUSH_PRIORITIES)[number];

/** What a push says, independent of the provider. No title and no body makes it a silent data message. */
export interface PushPayload {
  title?: string;
  body?: string;
  data: Record<string, string>;
  priority: PushPriority;
  collapseKey?: string;
  /** Time to live from `createdAt`; 0 means "now or never". Retries never extend it. */
  ttlSeconds?: number;
  /** When the notification was created (ms since epoch). */
  createdAt: number;
  /** The app icon's badge (iOS: aps.badge; 0 clears it). Unset: left as it is. A target's own badge wins. */
  badge?: number;
  /** `default`, a sound file of the app, or `none` for a quiet alert. Unset: `default` on alert pushes, but low priority ones. */
  sound?: string;
}

/** A push sound name: `default`, `none`, or a file of the app bundle (`chime.caf`). */
export const PUSH_SOUND_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_BADGE = 99_999;

/** The sound an alert push plays, or undefined for none (silent pushes, low priority, `none`). */
export function alertSound(payload: PushPayload): string | undefined {
  if (!payload.title && !payload.body) return undefined;
  if (payload.sound !== undefined) return payload.sound === 'none' ? undefined : payload.sound;
  return payload.priority === 'low' ? undefined : 'default';
}

export interface PushTarget {
  token: string;
  platform: DevicePlatform;
  /** This device's badge (its owner's unread count), instead of the payload's. */
  badge?: number;
}

/**
 * How a failed push must be handled:
 * - `token`: the token is dead or belongs elsewhere: deactivate the device, never retry;
 * - `retry`: transient: retry this token later with backoff;
 * - `quota`: the project is over its sending quota: pause the whole queue, then retry;
 * - `config`: credentials or APNs/web push keys are wrong: fail loudly, keep the tokens;
 * - `payload`: the message itself is invalid: fail without retrying, keep the tokens.
 */
export type PushFailureKind = 'token' | 'retry' | 'quota' | 'config' | 'payload';

export interface PushFailure {
  kind: PushFailureKind;
  /** The provider's error code, e.g. `messaging/registration-token-not-registered`. */
  code: string;
  message: string;
}

/**
 * `receiptId`: the provider accepted the push but reports delivery later (Expo's tickets): the
 * receipt is checked after a delay, and may still report the token dead.
 */
export type PushOutcome = { ok: true; receiptId?: string } | ({ ok: false } & PushFailure);

/**
 * One push provider's transport. An abstract class so that it serves as the DI token: firebase-admin
 * in production, a logging sender without credentials, scripted senders in tests.
 */
export abstract class PushSender {
  abstract readonly provider: PushProvider;
  /** Most targets one `send` call takes. */
  abstract readonly maxBatch: number;
  /** Said once at boot. */
  abstract readonly description: string;
  /** Whether the provider has topics; devices of a provider without them get no subscriptions. */
  readonly supportsTopics: boolean = true;
  /** Sends one payload to each target; one outcome per target, in order. Never throws for send errors. */
  abstract send(payload: PushPayload, targets: PushTarget[]): Promise<PushOutcome[]>;
  /** Sends one payload to a topic's subscribers. */
  abstract sendToTopic(payload: PushPayload, topic: string): Promise<PushOutcome>;
  /** Subscribes up to 1000 tokens to a topic; one outcome per token. */
  abstract subscribe(topic: string, tokens: string[]): Promise<PushOutcome[]>;
  abstract unsubscribe(topic: string, tokens: string[]): Promise<PushOutcome[]>;
}

/** The same failure for every item of a batch (the whole call was rejected). */
export function failAll<T>(items: T[], failure: PushFailure): PushOutcome[] {
  return items.map(() => ({ ok: false as const, ...failure }));
}

export function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
