import { OnApplicationShutdown } from '@nestjs/common';
import { App, deleteApp } from 'firebase-admin/app';
import type { Messaging, MessagingTopicManagementResponse, SendResponse } from 'firebase-admin/messaging';
import { classifyFcmError } from './fcm-errors';
import { fcmMessageFor, withBadge } from './fcm-message';
import { chunk, failAll, PushOutcome, PushPayload, PushSender, PushTarget } from './push-sender';

const FCM_MAX_BATCH = 500; // sendEach's limit
const FCM_MAX_TOPIC_BATCH = 1000; // subscribeToTopic's limit

/**
 * Production transport: firebase-admin 13 `sendEach` in chunks of 500 (one FCM v1 request per
 * message, over HTTP/2 unless legacy transport is enabled). Both failure shapes are handled: per
 * message errors inside the BatchResponse, and a rejected call (network errors, HTTP/2 session
 * errors, credential errors), which becomes the same failure for every target of the chunk.
 */
export class FirebasePushSender extends PushSender implements OnApplicationShutdown {
  readonly provider = 'fcm' as const;
  readonly maxBatch = FCM_MAX_BATCH;
  readonly description: string;

  constructor(
    private readonly messaging: Messaging,
    projectId: string,
    /** Deleted at shutdown when this sender owns it. */
    private readonly ownedApp?: App,
  ) {
    super();
    this.description = `FCM (project ${projectId})`;
  }

  async send(payload: PushPayload, targets: PushTarget[]): Promise<PushOutcome[]> {
    if (!targets.length) return [];
    const template = fcmMessageFor(payload);
    const outcomes: PushOutcome[] = [];
    for (const part of chunk(targets, FCM_MAX_BATCH)) {
      try {
        const batch = await this.messaging.sendEach(part.map((t) => ({ ...withBadge(template, t.badge), token: t.token })));
        outcomes.push(...this.outcomes(batch.responses));
      } catch (err) {
        outcomes.push(...failAll(part, classifyFcmError(err)));
      }
    }
    return outcomes;
  }

  async sendToTopic(payload: PushPayload, topic: string): Promise<PushOutcome> {
    try {
      await this.messaging.send({ ...fcmMessageFor(payload), topic });
      return { ok: true };
    } catch (err) {
      return { ok: false, ...classifyFcmError(err) };
    }
  }

  subscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    return this.manageTopic(tokens, (part) => this.messaging.subscribeToTopic(part, topic));
  }

  unsubscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    return this.manageTopic(tokens, (part) => this.messaging.unsubscribeFromTopic(part, topic));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.ownedApp) await deleteApp(this.ownedApp).catch(() => undefined);
  }

  private outcomes(responses: SendResponse[]): PushOutcome[] {
    const anySuccess = responses.some((r) => r.success);
    return responses.map((r) => (r.success ? { ok: true } : { ok: false, ...classifyFcmError(r.error, anySuccess) }));
  }

  private async manageTopic(tokens: string[], call: (part: string[]) => Promise<MessagingTopicManagementResponse>): Promise<PushOutcome[]> {
    const outcomes: PushOutcome[] = [];
    for (const part of chunk(tokens, FCM_MAX_TOPIC_BATCH)) {
      try {
        const response = await call(part);
        const results: PushOutcome[] = part.map(() => ({ ok: true }));
        for (const { index, error } of response.errors) results[index] = { ok: false, ...classifyFcmError(error, true) };
        outcomes.push(...results);
      } catch (err) {
        outcomes.push(...failAll(part, classifyFcmError(err)));
      }
    }
    return outcomes;
  }
}
