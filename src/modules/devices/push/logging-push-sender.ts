import { Logger } from '@nestjs/common';
import { PushOutcome, PushPayload, PushSender, PushTarget } from './push-sender';

/**
 * The transport when no Firebase credentials are configured (development, CI): every push and
 * topic call is logged (counts and keys, never the text) and reported as delivered.
 */
export class LoggingPushSender extends PushSender {
  readonly provider = 'fcm' as const;
  readonly maxBatch = 500;
  readonly description = 'logging only (no Firebase credentials: pushes are logged, not sent)';
  private readonly logger = new Logger('Push');

  async send(payload: PushPayload, targets: PushTarget[]): Promise<PushOutcome[]> {
    this.logger.log(`push not sent (no credentials): ${targets.length} device(s), ${this.describe(payload)}`);
    return targets.map(() => ({ ok: true }));
  }

  async sendToTopic(payload: PushPayload, topic: string): Promise<PushOutcome> {
    this.logger.log(`push not sent (no credentials): topic ${topic}, ${this.describe(payload)}`);
    return { ok: true };
  }

  async subscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    this.logger.debug(`topic subscribe not sent (no credentials): ${tokens.length} token(s) to ${topic}`);
    return tokens.map(() => ({ ok: true }));
  }

  async unsubscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    this.logger.debug(`topic unsubscribe not sent (no credentials): ${tokens.length} token(s) from ${topic}`);
    return tokens.map(() => ({ ok: true }));
  }

  private describe(payload: PushPayload): string {
    const kind = payload.title || payload.body ? 'alert' : 'silent';
    return `${kind}, priority ${payload.priority}, data keys [${Object.keys(payload.data).join(', ')}]`;
  }
}
