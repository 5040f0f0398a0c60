import { io, Socket } from 'socket.io-client';
import { DeliveryAcks } from './acks';
import { Backoff, BackoffOptions } from './backoff';
import { ClientContext, JsonStore, realClock, SocketLink } from './context';
import { Emitter } from './emitter';
import { TetherNetworkError } from './errors';
import { FetchLike, HttpClient } from './http';
import { MessagesClient } from './messages';
import { MutationQueue, MutationQueueOptions } from './mutations';
import { Poller, PollingOptions } from './polling';
import { Presence } from './presence';
import { memoryStorage, TetherStorage } from './storage';
import { EventHandler, EventMeta, SubscribeOptions, Subscription, Subscriptions } from './subscriptions';
import { SyncClient } from './sync';
import { TokenProvider, TokenSource } from './tokens';

export type ConnectionState = 'connecting' | 'connected' | 'polling' | 'offline' | 'closed';

/** A source of true/false changes: the network (online?) or the app (in the foreground?). */
export interface LifecycleSource {
  subscribe(listener: (up: boolean) => void): () => void;
}

export interface TetherOptions {
  /** The server's origin; the socket goes to `<url>/realtime`, HTTP to `<url>/api/mobile/v1`. */
  url: string;
  /** The access token: asked on every (re)connect, before it expires, and after a refusal or a 401. */
  token: TokenProvider;
  /** Offsets, sync cursors and the offline queue (default: in memory). */
  storage?: TetherStorage;
  /** Prefix of every storage key (default `tether:`). */
  storagePrefix?: string;
  /** HTTP polling of `/realtime/events` while the socket cannot connect; `false` turns it off. */
  polling?: PollingOptions | false;
  reconnect?: BackoffOptions;
  /** Socket.IO transports, in order (default `['websocket', 'polling']`). */
  transports?: ('websocket' | 'polling')[];
  /** HTTP requests (default 15 s). */
  requestTimeoutMs?: number;
  /** Socket acknowledgements and the socket's connect timeout (default 10 s). */
  ackTimeoutMs?: number;
  fetch?: FetchLike;
  /** Network reachability (NetInfo, or `online`/`offline` events, the default in browsers). */
  network?: LifecycleSource;
  /** Foreground / background (React Native's AppState): the socket is closed in the background. */
  appState?: LifecycleSource;
  /** The offline mutation queue's limits (see `tether.mutations`). */
  mutations?: MutationQueueOptions;
  /**
   * The id Tether gave this device at `POST /devices` (its push registration), asked on every
   * connect: delivery receipts then name the device. At most 64 characters.
   */
  deviceId?: string | (() => string | undefined | Promise<string | undefined>);
}

/** The server's first event on a connection. */
export interface Session {
  userId: string;
  tenantId: string;
  roles: string[];
  expiresAt: string;
  pingIntervalMs: number;
  channels: string[];
}

/** A refusal of the socket by the server (`connect_error` data, `auth:refresh` errors). */
export class TetherSocketError extends Error {
  readonly name = 'TetherSocketError';
  constructor(
    /** `token_invalid`, `token_expired`, `token_missing`, `token_not_yet_valid`, `rate_limited`, ... */
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

type ClientEvents = {
  state: (state: ConnectionState) => void;
  error: (err: unknown) => void;
  session: (session: Session) => void;
};

/**
 * The Tether client: one socket with its own reconnect loop (backoff with jitter, a token asked on
 * every connect, refusals surfaced rather than retried blindly), subscriptions that recover missed
 * events with `since`, an HTTP polling fallback, presence, and the context the sync, mutation and
 * messaging parts run on.
 */
export class TetherClient extends Emitter<ClientEvents> {
  readonly http: HttpClient;
  readonly presence: Presence;
  /** Delta sync of collections (`tether.sync.collection('events', { apply }).pull()`). */
  readonly sync: SyncClient;
  /** The offline mutation queue; it sends while the client is connect()ed. */
  readonly mutations: MutationQueue;
  private messagesClient?: MessagesClient;
  private readonly tokens: TokenSource;
  private readonly store: JsonStore;
  private readonly subs: Subscriptions;
  private readonly poller?: Poller;
  private readonly afterFailures: number;
  private readonly backoff: Backoff;
  private readonly ackTimeoutMs: number;
  private readonly link: SocketLink;
  private readonly ctx: ClientContext;
  private readonly handlers = new Map<string, Set<EventHandler>>();
  /** `delivery:ack` of every `meta.deliveryId` received on the socket. */
  private readonly acks: DeliveryAcks;
  private readonly reachable = new Set<() => void>();
  private current: ConnectionState = 'closed';
  private socket?: Socket;
  /** The token the socket is authenticated with (connect or the last auth:refresh). */
  private socketToken?: string;
  private timer?: ReturnType<typeof setTimeout>;
  private attempt = 0;
  private failures = 0;
  /** A `token_expired` refusal was answered with one fresh token already (reset on connect). */
  private renewedExpired = false;
  /** The server said `auth:expired`: the disconnect that follows reconnects at once with a fresh token. */
  private authExpired = false;
  private started = false;
  /** Refused with a code the client cannot fix: no retry until connect(), network back or foreground. */
  private refused = false;
  private online = true;
  private foreground = true;
  private unhook: (() => void)[] = [];

  constructor(private readonly options: TetherOptions) {
    super();
    const fetchImpl = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
    this.tokens = new TokenSource(options.token);
    this.http = new HttpClient(options.url, this.tokens, fetchImpl, options.requestTimeoutMs ?? 15_000);
    this.store = new JsonStore(options.storage ?? memoryStorage(), options.storagePrefix ?? 'tether:');
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.backoff = new Backoff(options.reconnect);
    const connected = () => this.socket?.connected === true;
    this.link = {
      get connected() {
        return connected();
      },
      emitWithAck: <T>(event: string, data: unknown, timeoutMs?: number) => {
        const socket = this.socket;
        if (!socket?.connected) return Promise.reject(new TetherNetworkError(`${event}: the socket is not connected`));
        return socket.timeout(timeoutMs ?? this.ackTimeoutMs).emitWithAck(event, data) as Promise<T>;
      },
      onReachable: (listener) => {
        this.reachable.add(listener);
        return () => this.reachable.delete(listener);
      },
    };
    this.ctx = { http: this.http, store: this.store, socket: this.link, clock: realClock };
    const onError = (err: unknown) => this.emit('error', err);
    this.acks = new DeliveryAcks(
      async (ids) => {
        const ack = await this.link.emitWithAck<AckAnswer>('delivery:ack', { ids });
        if (ack?.error) throw new TetherSocketError(ack.error.code, ack.error.message);
      },
      realClock,
      connected,
      onError,
    );
    this.subs = new Subscriptions(this.link, this.store, realClock, this.ackTimeoutMs, onError);
    this.presence = new Presence(this.http, this.link, this.ackTimeoutMs);
    const polling = options.polling === false ? undefined : (options.polling ?? {});
    this.afterFailures = polling?.afterFailures ?? 3;
    if (polling)
      this.poller = new Poller(
        this.http,
        this.subs,
        realClock,
        polling.intervalMs ?? 30_000,
        (event, payload, meta) => this.dispatch(event, payload, meta),
        onError,
      );
    this.sync = new SyncClient(this.ctx);
    this.mutations = new MutationQueue(this.ctx, options.mutations);
    this.mutations.on('error', onError);
  }

  /** Messaging with exactly-once sends; made on first use, so stored sends resume only when the app uses it. */
  get messages(): MessagesClient {
    return (this.messagesClient ??= new MessagesClient(this.ctx, { ackTimeoutMs: this.ackTimeoutMs }));
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** @internal What sync, mutations and messages are built on: `new SyncClient(tether.context)`. */
  get context(): ClientContext {
    return this.ctx;
  }

  /** Starts (or, after a refusal or close(), restarts) connecting. */
  connect(): void {
    if (!this.started) {
      this.started = true;
      const network = this.options.network ?? browserNetwork();
      if (network) this.unhook.push(network.subscribe((up) => this.lifecycle(up, this.foreground)));
      if (this.options.appState) this.unhook.push(this.options.appState.subscribe((up) => this.lifecycle(this.online, up)));
    }
    this.refused = false;
    this.mutations.start();
    this.resume();
  }

  /**
   * Closes the socket, stops polling, every retry and the mutation queue; offsets are written out.
   * Subscriptions and the queue stay for the next connect(); unsent messages stay in storage and
   * are resent by the next use of `tether.messages`.
   */
  close(): void {
    this.started = false;
    for (const off of this.unhook.splice(0)) off();
    this.mutations.stop();
    this.messagesClient?.close();
    this.messagesClient = undefined;
    this.halt();
    void this.subs.flush();
    this.setState('closed');
  }

  /** Listens to a channel (`tether.subscribe('conversation:42')`); host-owned channels pass `{ token }`. */
  subscribe(channel: string, options?: SubscribeOptions): Subscription {
    const sub = this.subs.add(channel, options);
    if (this.poller?.active) this.poller.poke();
    return sub;
  }

  /** Every server event with this name, from any channel (the user's own channel included). */
  onEvent(event: string, handler: EventHandler): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => void set.delete(handler);
  }

  // ---- the connection loop ------------------------------------------------------------------

  private get running(): boolean {
    return this.started && this.online && this.foreground && !this.refused;
  }

  private lifecycle(online: boolean, foreground: boolean): void {
    // Back online or in the foreground: a good moment to try again after a refusal too (the app may hold a new token).
    if ((online && !this.online) || (foreground && !this.foreground)) this.refused = false;
    this.online = online;
    this.foreground = foreground;
    if (!this.running) {
      if (this.started && (!online || !foreground)) {
        this.halt();
        this.setState('offline');
      }
      return;
    }
    for (const listener of [...this.reachable]) listener();
    this.resume();
  }

  /** Connects now, with the backoff reset (connect(), network back, foreground). */
  private resume(): void {
    if (!this.running) return;
    this.backoff.reset();
    this.failures = 0;
    if (!this.socket) void this.open();
  }

  /** Everything down: socket, timer, polling. */
  private halt(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt++;
    this.poller?.stop();
    this.drop();
    this.subs.disconnected();
  }

  private async open(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running || this.socket) return;
    const attempt = ++this.attempt;
    this.setState(this.poller?.active ? 'polling' : 'connecting');
    let token: string;
    let deviceId: string | undefined;
    try {
      await this.subs.loaded;
      [token, deviceId] = await Promise.all([this.tokens.fresh(), this.deviceId()]);
    } catch (err) {
      if (attempt !== this.attempt) return;
      this.emit('error', err);
      return this.failed(false);
    }
    if (attempt !== this.attempt || !this.running || this.socket) return;
    const socket = io(`${this.options.url.replace(/\/+$/, '')}/realtime`, {
      transports: this.options.transports ?? ['websocket', 'polling'],
      // WebSocket refused (a proxy without upgrades): long-polling in the same attempt.
      tryAllTransports: true,
      // Our own loop reconnects: it asks token() each time and reads the refusal's code.
      reconnection: false,
      forceNew: true,
      timeout: this.ackTimeoutMs,
      // ack: this client confirms every `meta.deliveryId` (the server pushes only what no device confirmed).
      auth: deviceId ? { token, ack: true, deviceId } : { token, ack: true },
    });
    this.socket = socket;
    this.socketToken = token;
    // A WebSocket cut before the handshake (a proxy, a captive portal) fires no error, only a close:
    // count it as a failed attempt now instead of at the connect timeout.
    // ('forced close' is our own side closing it, e.g. after the server's connect_error.)
    socket.io.engine?.once('close', (reason: string) => {
      if (reason !== 'forced close' && socket === this.socket && !socket.connected) {
        this.onConnectError(socket, new Error(`${reason} while connecting`));
      }
    });
    socket.on('connect', () => this.onConnect(socket));
    socket.on('connect_error', (err) => this.onConnectError(socket, err as Error & { data?: RefusalData }));
    socket.on('disconnect', () => this.onDisconnect(socket));
    socket.onAny((event: string, payload: unknown, meta: EventMeta) => this.onServerEvent(socket, event, payload, meta));
  }

  private onConnect(socket: Socket): void {
    if (socket !== this.socket) return;
    this.failures = 0;
    this.renewedExpired = false;
    this.backoff.reset();
    // Polling stops first (answers in flight are dropped), then one subscribe with the offsets it reached.
    this.poller?.stop();
    this.subs.resubscribe();
    this.presence.refollow();
    // Ids received before the last connection went away.
    this.acks.flush();
    this.setState('connected');
    for (const listener of [...this.reachable]) listener();
  }

  private onConnectError(socket: Socket, err: Error & { data?: RefusalData }): void {
    if (socket !== this.socket) return;
    this.drop();
    const data = err.data;
    if (data?.code === 'token_expired' && !this.renewedExpired) {
      // Ask token() once more at once; a second refusal is surfaced below.
      this.renewedExpired = true;
      this.tokens.invalidate();
      return void this.open();
    }
    if (data?.code === 'rate_limited') {
      const wait = (data.retryAfter ?? 1) * 1000;
      this.emit('error', new TetherSocketError(data.code, data.message ?? 'rate limited', wait));
      return this.schedule(wait + Math.random() * 1000);
    }
    if (data?.code) {
      // token_invalid, token_missing, forbidden...: retrying the same would fail the same way.
      this.refused = true;
      this.halt();
      this.emit('error', new TetherSocketError(data.code, data.message ?? data.code));
      return this.setState('offline');
    }
    // No answer, refused at the transport, a draining pod, a connect timeout.
    this.failed(err.message === 'timeout');
  }

  private onDisconnect(socket: Socket): void {
    if (socket !== this.socket) return;
    this.drop();
    this.subs.disconnected();
    if (!this.running) return;
    if (this.authExpired) {
      this.authExpired = false;
      return void this.open();
    }
    this.setState(this.poller?.active ? 'polling' : 'connecting');
    this.schedule(this.backoff.next());
  }

  /** A connect that failed: polling after `afterFailures` in a row (or a timeout), the socket retried with backoff. */
  private failed(timedOut: boolean): void {
    this.failures++;
    if (this.poller && (timedOut || this.failures >= this.afterFailures)) this.poller.start();
    this.setState(this.poller?.active ? 'polling' : 'connecting');
    this.schedule(this.backoff.next());
  }

  /** The app's `deviceId` option; a failing one connects without it. */
  private async deviceId(): Promise<string | undefined> {
    const option = this.options.deviceId;
    try {
      return (typeof option === 'function' ? await option() : option) || undefined;
    } catch (err) {
      this.emit('error', err);
      return undefined;
    }
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.running) this.timer = setTimeout(() => void this.open(), ms);
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    socket.off();
    socket.offAny();
    socket.disconnect();
  }

  // ---- events -------------------------------------------------------------------------------

  private onServerEvent(socket: Socket, event: string, payload: unknown, meta: EventMeta | undefined): void {
    if (socket !== this.socket) return;
    if (event === 'session') return this.emit('session', payload as Session);
    if (event === 'auth:expiring') return void this.refreshAuth(socket);
    if (event === 'auth:expired') {
      this.authExpired = true;
      this.tokens.invalidate();
      return;
    }
    // On receipt, whatever the handlers do.
    this.acks.add(meta?.deliveryId);
    this.dispatch(event, payload, meta);
  }

  /** A minute before expiry: a fresh token on the same socket, no reconnect. */
  private async refreshAuth(socket: Socket): Promise<void> {
    try {
      const token = await this.tokens.fresh();
      // The same token again would only be warned about again: the server's auth:expired then reconnects.
      if (socket !== this.socket || token === this.socketToken) return;
      const ack = await this.link.emitWithAck<{ error?: { code: string; message: string } }>('auth:refresh', { token });
      if (ack?.error) throw new TetherSocketError(ack.error.code, ack.error.message);
      this.socketToken = token;
    } catch (err) {
      this.emit('error', err);
    }
  }

  private dispatch(event: string, payload: unknown, meta: EventMeta | undefined): void {
    const { fresh, sub } = this.subs.deliver(event, payload, meta);
    if (!fresh) return;
    if (event === 'presence:update') this.presence.update(payload as Parameters<Presence['update']>[0]);
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        handler(payload, meta ?? {});
      } catch (err) {
        this.emit('error', err);
      }
    }
    sub?.dispatch(event, payload, meta ?? {});
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    this.emit('state', state);
  }
}

interface AckAnswer {
  error?: { code: string; message: string };
}

interface RefusalData {
  code?: string;
  message?: string;
  retryAfter?: number;
}

/** `online`/`offline` events where the platform has them (browsers); none elsewhere. */
function browserNetwork(): LifecycleSource | undefined {
  const w = globalThis as {
    addEventListener?: (e: string, l: () => void) => void;
    removeEventListener?: (e: string, l: () => void) => void;
  };
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  if (typeof w.addEventListener !== 'function' || typeof nav?.onLine !== 'boolean') return undefined;
  return {
    subscribe(listener) {
      const on = () => listener(true);
      const off = () => listener(false);
      w.addEventListener!('online', on);
      w.addEventListener!('offline', off);
      if (!nav.onLine) off();
      return () => {
        w.removeEventListener?.('online', on);
        w.removeEventListener?.('offline', off);
      };
    },
  };
}
