import { ClientContext } from './context';
import { Emitter } from './emitter';
import { TetherHttpError } from './errors';
import { uuid } from './ids';

/** A stored message (README "Messaging"). */
export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  clientMessageId: string | null;
  kind: string;
  content: string | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  status?: 'sent' | 'delivered' | 'read';
}

/** A send not yet confirmed by the server, persisted under `messages:pending`. */
export interface PendingMessage {
  conversationId: string;
  clientMessageId: string;
  content: string;
  kind?: string;
}

export interface MessagesOptions {
  /** Socket acknowledgement timeout (default 10 s). */
  ackTimeoutMs?: number;
  /** Resend backoff: from this, doubling with jitter, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

type Events = {
  /** The sends not yet stored, after every change. */
  pending: (pending: PendingMessage[]) => void;
  /** A send was stored (also one restored from storage after a restart). */
  sent: (message: Message) => void;
  /** A send was refused for good (conversation_not_found, invalid_payload, ...) and dropped. */
  failed: (failure: { pending: PendingMessage; error: unknown }) => void;
};

const KEY = 'messages:pending';
const PAGE = 200;

/**
 * Messaging with exactly-once sends: one clientMessageId per message, resent (over the socket when
 * connected, else HTTP) until the server has stored it; a resend answers the stored message.
 */
export class MessagesClient extends Emitter<Events> {
  /** Resolves once the pending sends of a previous run are loaded (and being resent). */
  readonly ready: Promise<void>;
  private pending: PendingMessage[] = [];
  private wake = new AbortController();

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: MessagesOptions = {},
  ) {
    super();
    ctx.socket.onReachable(() => {
      this.wake.abort();
      this.wake = new AbortController();
    });
    this.ready = ctx.store
      .get<PendingMessage[]>(KEY)
      .catch(() => undefined)
      .then((stored) => {
        for (const p of stored ?? []) if (!this.find(p)) this.deliver(p).catch(() => undefined);
      });
  }

  /** Sends and resolves with the stored message; rejects only when the server refuses it for good. */
  send(conversationId: string, content: string, options: { clientMessageId?: string; kind?: string } = {}): Promise<Message> {
    return this.deliver({ conversationId, content, clientMessageId: options.clientMessageId ?? uuid(), kind: options.kind });
  }

  /** Every message after `lastSeq`, oldest first (pages of 200). */
  async catchUp(conversationId: string, lastSeq: number): Promise<Message[]> {
    const all: Message[] = [];
    for (let after = lastSeq; ;) {
      const page = await this.ctx.http.get<{ messages: Message[]; hasMore: boolean }>(`${this.path(conversationId)}/messages`, {
        query: { after, limit: PAGE },
      });
      all.push(...page.messages);
      if (page.messages.length < PAGE || !page.hasMore) return all;
      after = page.messages[page.messages.length - 1].seq;
    }
  }

  markDelivered(conversationId: string, upToSeq: number): Promise<unknown> {
    return this.ctx.http.post(`${this.path(conversationId)}/messages/status`, { status: 'delivered', upToSeq });
  }

  markRead(conversationId: string, upToSeq: number): Promise<unknown> {
    return this.ctx.http.post(`${this.path(conversationId)}/messages/status`, { status: 'read', upToSeq });
  }

  /** `typing:start`/`typing:stop` over the socket when connected, else `POST .../typing`. */
  async typing(conversationId: string, isTyping: boolean): Promise<void> {
    if (this.ctx.socket.connected) await this.ctx.socket.emitWithAck(isTyping ? 'typing:start' : 'typing:stop', { conversationId });
    else await this.ctx.http.post(`${this.path(conversationId)}/typing`, { isTyping });
  }

  private path(conversationId: string): string {
    return `/conversations/${encodeURIComponent(conversationId)}`;
  }

  private async deliver(p: PendingMessage): Promise<Message> {
    if (!this.find(p)) this.update(() => [...this.pending, p]);
    const { initialDelayMs = 500, maxDelayMs = 30_000 } = this.options;
    for (let failures = 0; ; failures++) {
      try {
        const message = await this.attempt(p);
        this.drop(p);
        this.emit('sent', message);
        return message;
      } catch (err) {
        // Final: the server refused this message (4xx other than 401, 429, in progress).
        if (err instanceof TetherHttpError && !err.retryable && err.status !== 401) {
          this.drop(p);
          this.emit('failed', { pending: p, error: err });
          throw err;
        }
        const base = Math.min(maxDelayMs, initialDelayMs * 2 ** failures);
        const delay = Math.max((err as TetherHttpError).retryAfterMs ?? 0, base / 2 + (Math.random() * base) / 2);
        await this.ctx.clock.sleep(delay, this.wake.signal);
      }
    }
  }

  private async attempt(p: PendingMessage): Promise<Message> {
    const { conversationId, clientMessageId, content, kind } = p;
    const body = { clientMessageId, content, ...(kind ? { kind } : {}) };
    if (!this.ctx.socket.connected) return this.ctx.http.post<Message>(`${this.path(conversationId)}/messages`, body);
    const ack = await this.ctx.socket.emitWithAck<{ message?: Message; error?: { code: string; message: string } }>(
      'message:send',
      { conversationId, ...body },
      this.options.ackTimeoutMs ?? 10_000,
    );
    if (ack.message) return ack.message;
    const code = ack.error?.code ?? 'invalid_ack';
    // Error acks carry no status: rate limits and outages are worth another try, the rest is final.
    const status = code === 'rate_limited' ? 429 : /internal|unavailable|invalid_ack/.test(code) ? 503 : 400;
    throw new TetherHttpError(status, code, ack.error?.message ?? code);
  }

  private drop(p: PendingMessage): void {
    this.update(() => this.pending.filter((x) => x.clientMessageId !== p.clientMessageId));
  }

  private find(p: PendingMessage): PendingMessage | undefined {
    return this.pending.find((x) => x.clientMessageId === p.clientMessageId);
  }

  private update(change: () => PendingMessage[]): void {
    this.pending = change();
    // After the load, so an early send never overwrites what a previous run left.
    void this.ready.then(() => this.ctx.store.set(KEY, this.pending)).catch(() => undefined);
    this.emit('pending', [...this.pending]);
  }
}
