import { OnApplicationShutdown } from '@nestjs/common';
import { Expo, ExpoPushMessage, ExpoPushTicket } from 'expo-server-sdk';
import { Agent, Dispatcher } from 'undici';
import { classifyExpoRequestError, classifyExpoTicketError, expoMessageFor } from './expo-message';
import { failAll, PushFailure, PushOutcome, PushPayload, PushSender, PushTarget } from './push-sender';

export interface ExpoSenderOptions {
  accessToken?: string;
  /** Base URL replacing https://exp.host (the SDK hardcodes it). */
  pushUrl?: string;
  /** First delay of the SDK's own retries of a 429 (it makes two). */
  retryMinTimeoutMs?: number;
}

export interface ExpoReceipts {
  /** Outcome per receipt id Expo answered for; ids it did not answer for are not ready yet. */
  receipts: Map<string, PushOutcome>;
  /** Requests that failed (their ids are neither answered nor settled). */
  failures: PushFailure[];
}

/**
 * expo-server-sdk calls undici's fetch with a hardcoded https://exp.host; a dispatcher that
 * rewrites each request's origin (and prefixes the base path) makes the base URL configurable.
 */
function dispatcherFor(pushUrl: string): Dispatcher {
  const base = new URL(pushUrl);
  const prefix = base.pathname.replace(/\/$/, '');
  return new Agent().compose(
    (dispatch) => (opts, handler) => dispatch({ ...opts, origin: base.origin, path: `${prefix}${opts.path}` }, handler),
  );
}

/**
 * Expo's push service through expo-server-sdk: messages in chunks of 100 (one request each, at most
 * six at once), one ticket per message. An ok ticket carries a receipt id, checked later by the
 * receipts job (ExpoReceiptsService); an error ticket is classified at once. A rejected request
 * fails every message of its chunk alike. Expo has no topics: tenant and role pushes reach Expo
 * devices one by one.
 */
export class ExpoPushSender extends PushSender implements OnApplicationShutdown {
  readonly provider = 'expo' as const;
  readonly maxBatch = 500;
  readonly description: string;
  override readonly supportsTopics = false;
  private readonly expo: Expo;
  private readonly dispatcher?: Dispatcher;

  constructor(options: ExpoSenderOptions = {}) {
    super();
    this.dispatcher = options.pushUrl ? dispatcherFor(options.pushUrl) : undefined;
    this.expo = new Expo({
      ...(options.accessToken ? { accessToken: options.accessToken } : {}),
      ...(this.dispatcher ? { httpAgent: this.dispatcher } : {}),
      ...(options.retryMinTimeoutMs !== undefined ? { retryMinTimeout: options.retryMinTimeoutMs } : {}),
    });
    this.description = `Expo push (${options.pushUrl ?? 'https://exp.host'}${options.accessToken ? ', with access token' : ''})`;
  }

  async send(payload: PushPayload, targets: PushTarget[]): Promise<PushOutcome[]> {
    if (!targets.length) return [];
    const template = expoMessageFor(payload);
    const chunks = this.expo.chunkPushNotifications(
      targets.map((t): ExpoPushMessage => ({ ...template, ...(t.badge !== undefined ? { badge: t.badge } : {}), to: t.token })),
    );
    // The SDK limits concurrency itself (six requests at a time).
    const results = await Promise.all(
      chunks.map(async (messages) => {
        try {
          return (await this.expo.sendPushNotificationsAsync(messages)).map(outcomeOf);
        } catch (err) {
          return failAll(messages, classifyExpoRequestError(err));
        }
      }),
    );
    return results.flat();
  }

  /** Fetches receipts, at most 300 ids per request (the SDK's chunking; Expo allows 1000). */
  async receipts(ids: string[]): Promise<ExpoReceipts> {
    const result: ExpoReceipts = { receipts: new Map(), failures: [] };
    await Promise.all(
      this.expo.chunkPushNotificationReceiptIds(ids).map(async (part) => {
        try {
          const answered = await this.expo.getPushNotificationReceiptsAsync(part);
          for (const [id, receipt] of Object.entries(answered))
            result.receipts.set(id, receipt.status === 'ok' ? { ok: true } : { ok: false, ...classifyExpoTicketError(receipt) });
        } catch (err) {
          result.failures.push(classifyExpoRequestError(err));
        }
      }),
    );
    return result;
  }

  async sendToTopic(): Promise<PushOutcome> {
    return { ok: false, ...NO_TOPICS };
  }

  async subscribe(_topic: string, tokens: string[]): Promise<PushOutcome[]> {
    return failAll(tokens, NO_TOPICS);
  }

  async unsubscribe(_topic: string, tokens: string[]): Promise<PushOutcome[]> {
    return failAll(tokens, NO_TOPICS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher?.close().catch(() => undefined);
  }
}

const NO_TOPICS: PushFailure = { kind: 'payload', code: 'expo/topics-unsupported', message: 'Expo push has no topics' };

function outcomeOf(ticket: ExpoPushTicket): PushOutcome {
  return ticket.status === 'ok' ? { ok: true, receiptId: ticket.id } : { ok: false, ...classifyExpoTicketError(ticket) };
}
