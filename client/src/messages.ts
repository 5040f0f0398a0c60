import { ClientContext } from './context';
import { Emitter } from './emitter';
import { TetherHttpError, TetherNetworkError } from './errors';
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

/** A participant's read state after `markDelivered` / `markRead`. */
export interface ReadState {
  conversationId: string;
  lastDeliveredSeq: number;
  lastReadSeq: number;
  unreadCount: number;
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
 * connected, else HTTP) until the server has stored it; a resend answers the stored message. Sends
 * go out one at a time in the order made, so a conversation's messages are stored in that order.
 */
export class MessagesClient extends Emitter<Events> {
  /** Resolves once the pending sends of a previous run are loaded (they are resent first). */
  readonly ready: Promise<void>;
  private pending: PendingMessage[] = [];
  private waiters = new Map<string, { resolve(m: Message): void; reject(e: unknown): void }[]>();
  private worker?: Promise<void>;
  private wake = new AbortController();
  private closed = false;
  private offReachable: () => void;

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: MessagesOptions = {},
  ) {
    super();
    this.offReachable = ctx.socket.onReachable(() => {
      this.wake.abort();
      this.wake = new AbortController();
    });
    this.ready = ctx.store
      .get<PendingMessage[]>(KEY)
      .catch(() => undefined)
      .then((stored) => {
        this.pending = [...(stored ?? []).filter((p) => !this.find(p.clientMessageId)), ...this.pending];
      });
    this.pump();
  }

  /** Sends and resolves with the stored message; rejects when the server refuses it for good (or on close()). */
  send(conversationId: string, content: string, options: { clientMessageId?: string; kind?: string } = {}): Promise<Message> {
    const p: PendingMessage = { conversationId, content, clientMessageId: options.clientMessageId ?? uuid(), kind: options.kind };
    const done = new Promise<Message>((resolve, reject) => {
      const list = this.waiters.get(p.clientMessageId) ?? [];
      this.waiters.set(p.clientMessageId, [...list, { resolve, reject }]);
    });
    if (!this.find(p.clientMessageId)) this.update([...this.pending, p]);
    this.pump();
    return done;
  }

  /** Stops resending; unsent messages stay in storage for the next MessagesClient on it. */
  close(): void {
    this.closed = true;
    this.offReachable();
    this.wake.abort();
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

  /** Moves your delivered pointer forward (never back) to `upToSeq`. */
  markDelivered(conversationId: string, upToSeq: number): Promise<ReadState> {
    return this.ctx.http.post(`${this.path(conversationId)}/messages/status`, { status: 'delivered', upToSeq });
  }

  /** Moves your read pointer forward to `upToSeq` (read implies delivered). */
  markRead(conversationId: string, upToSeq: number): Promise<ReadState> {
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

  private pump(): void {
    this.worker ??= this.ready
      .then(() => this.work())
      .finally(() => {
        this.worker = undefined;
        // A send that came in as the loop ended.
        if (this.pending.length && !this.closed) this.pump();
      });
  }

  private async work(): Promise<void> {
    for (let p: PendingMessage | undefined; (p = this.pending[0]) && !this.closed;) {
      let outcome: { message: Message } | { error: unknown };
      try {
        outcome = { message: await this.untilStored(p) };
      } catch (error) {
        if (this.closed) break;
        outcome = { error };
      }
      this.update(this.pending.filter((x) => x !== p));
      const waiters = this.waiters.get(p.clientMessageId) ?? [];
      this.waiters.delete(p.clientMessageId);
      if ('message' in outcome) this.emit('sent', outcome.message);
      else this.emit('failed', { pending: p, error: outcome.error });
      for (const w of waiters) {
        if ('message' in outcome) w.resolve(outcome.message);
        else w.reject(outcome.error);
      }
    }
    if (this.closed)
      for (const [id, waiters] of this.waiters) {
        this.waiters.delete(id);
        for (const w of waiters) w.reject(new TetherNetworkError('closed: the message stays queued in storage'));
      }
  }

  private async untilStored(p: PendingMessage): Promise<Message> {
    const { initialDelayMs = 500, maxDelayMs = 30_000 } = this.options;
    for (let failures = 0; ; failures++) {
      try {
        return await this.attempt(p);
      } catch (err) {
        // Final: the server refused this message (4xx other than 401, 429, in progress).
        if ((err instanceof TetherHttpError && !err.retryable && err.status !== 401) || this.closed) throw err;
        const base = Math.min(maxDelayMs, initialDelayMs * 2 ** failures);
        const delay = Math.max((err as TetherHttpError).retryAfterMs ?? 0, base / 2 + (Math.random() * base) / 2);
        await this.ctx.clock.sleep(delay, this.wake.signal);
        if (this.closed) throw err;
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

  private find(id: string): PendingMessage | undefined {
    return this.pending.find((x) => x.clientMessageId === id);
  }

  private update(pending: PendingMessage[]): void {
    this.pending = pending;
    // After the load, so an early send never overwrites what a previous run left.
    void this.ready.then(() => this.ctx.store.set(KEY, this.pending)).catch(() => undefined);
    this.emit('pending', [...this.pending]);
  }
}
