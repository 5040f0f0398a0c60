import { classifyFcmError } from '../../src/modules/devices/push/fcm-errors';
import { PushOutcome, PushPayload, PushSender, PushTarget } from '../../src/modules/devices/push/push-sender';

type Step = PushOutcome | { hang: Promise<void> };

/** An FCM failure as firebase-admin would report it, classified by Tether's own rules. */
export function fcmFailure(code: string, message = code): PushOutcome {
  return { ok: false, ...classifyFcmError({ code, message }) };
}

/**
 * A PushSender whose answers a test scripts per token (by default every push succeeds), recording
 * every call. It stands in for FCM through DI, never through a code branch in the app.
 */
export class ScriptedPushSender extends PushSender {
  readonly provider = 'fcm' as const;
  readonly maxBatch = 500;
  readonly description = 'scripted test sender';
  /** Every attempt to push to a token, in order (`badge`: the target's own, its owner's unread count). */
  readonly sends: { token: string; payload: PushPayload; ok: boolean; badge?: number }[] = [];
  readonly topicSends: { topic: string; payload: PushPayload }[] = [];
  readonly topicCalls: { op: 'subscribe' | 'unsubscribe'; topic: string; tokens: string[] }[] = [];
  private readonly scripts = new Map<string, Step[]>();
  private topicScript: PushOutcome[] = [];

  /** The next answers for this token, in order; after them, success. */
  script(token: string, ...steps: PushOutcome[]): void {
    this.scripts.set(token, [...(this.scripts.get(token) ?? []), ...steps]);
  }

  /** The next send to this token never answers until the returned function is called. */
  hang(token: string): () => void {
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    this.scripts.set(token, [{ hang }, ...(this.scripts.get(token) ?? [])]);
    return release;
  }

  scriptTopicSend(...outcomes: PushOutcome[]): void {
    this.topicScript.push(...outcomes);
  }

  sentTo(token: string): { token: string; payload: PushPayload; ok: boolean; badge?: number }[] {
    return this.sends.filter((s) => s.token === token);
  }

  async send(payload: PushPayload, targets: PushTarget[]): Promise<PushOutcome[]> {
    return Promise.all(
      targets.map(async ({ token, badge }) => {
        const step = this.scripts.get(token)?.shift();
        if (step && 'hang' in step) {
          this.sends.push({ token, payload, ok: false, badge });
          await step.hang;
          return { ok: true as const };
        }
        const outcome = step ?? { ok: true as const };
        this.sends.push({ token, payload, ok: outcome.ok, badge });
        return outcome;
      }),
    );
  }

  async sendToTopic(payload: PushPayload, topic: string): Promise<PushOutcome> {
    this.topicSends.push({ topic, payload });
    return this.topicScript.shift() ?? { ok: true };
  }

  async subscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    this.topicCalls.push({ op: 'subscribe', topic, tokens });
    return tokens.map(() => ({ ok: true as const }));
  }

  async unsubscribe(topic: string, tokens: string[]): Promise<PushOutcome[]> {
    this.topicCalls.push({ op: 'unsubscribe', topic, tokens });
    return tokens.map(() => ({ ok: true as const }));
  }
}
