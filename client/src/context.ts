import { HttpClient } from './http';
import { TetherStorage } from './storage';

/** What the client's parts (sync, mutations, messages, presence) get from TetherClient. */
export interface ClientContext {
  http: HttpClient;
  /** Persisted JSON under the client's key prefix. */
  store: JsonStore;
  socket: SocketLink;
  /** Waits (for backoff); tests may shorten it. */
  clock: Clock;
}

/** The live socket as the other parts see it. */
export interface SocketLink {
  /** True while a Socket.IO connection is up and authenticated. */
  readonly connected: boolean;
  /** Emits with an acknowledgement; rejects when not connected or after `timeoutMs` without an ack. */
  emitWithAck<T>(event: string, data: unknown, timeoutMs?: number): Promise<T>;
  /** Called whenever the client may be able to reach the server again (socket connected, network back, app in foreground). */
  onReachable(listener: () => void): () => void;
}

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (then the promise still resolves). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done);
    }),
};

/** JSON values in a TetherStorage under one prefix; writes to one key are applied in call order. */
export class JsonStore {
  private chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly storage: TetherStorage,
    private readonly prefix = 'tether:',
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    await this.chains.get(key);
    const raw = await this.storage.getItem(this.prefix + key);
    if (raw == null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: unknown): Promise<void> {
    return this.chain(key, () => this.storage.setItem(this.prefix + key, JSON.stringify(value)));
  }

  remove(key: string): Promise<void> {
    return this.chain(key, () => this.storage.removeItem(this.prefix + key));
  }

  private chain(key: string, write: () => Promise<void> | void): Promise<void> {
    const next = (this.chains.get(key) ?? Promise.resolve()).catch(() => undefined).then(write);
    this.chains.set(key, next);
    void next
      .finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      })
      .catch(() => undefined);
    return next;
  }
}
