import { BeforeApplicationShutdown, Logger } from '@nestjs/common';
import { OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { bearerToken } from '../../core/auth/auth.guards';
import type { AuthUser } from '../../core/auth/auth-user';
import { TokenVerifier } from '../../core/auth/token-verifier.service';
import { DomainError } from '../../core/http/domain-error';
import { ChannelPolicyRegistry } from './channels/channel-policy.registry';
import { ClientEventRegistry } from './client-event.registry';
import { channelOfRoom, parseChannel, roomOf, userChannel } from './channels/channel';
import { ConnectionLimiter } from './connection-limiter';
import { EventLogService, InvalidOffsetError } from './event-log.service';
import { compareOffsets } from './offsets';
import { PresenceService } from './presence.service';
import type { RoomSubscriptions } from './redis-io.adapter';
import { EventMeta, SessionEvents } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimeService } from './realtime.service';
import { ErrorAck, errorAck, SocketSession } from './socket-session';

const TYPING_THROTTLE_MS = 2000;
const TYPING_TIMEOUT_MS = 5000;
const EXPIRY_WARNING_MS = 60_000;
/** Longer than any broadcast takes to cross Redis, short enough to hold no state for long. */
const FLOOR_MS = 30_000;

type Ack = (response: unknown) => void;
type TetherSocket = Socket & { data: SocketSession };
type ClientEventHandler = (socket: TetherSocket, data: unknown) => unknown;

export interface SubscribeAck {
  subscribed: string[];
  rejected: { channel: string; reason: string }[];
  /** The offset each subscribed channel stands at: keep the latest you see, send it in `since`. */
  offsets: Record<string, string>;
  /** For channels named in `since`: true if every missed event was replayed, false to reload over REST. */
  recovered?: Record<string, boolean>;
}

/**
 * The /realtime namespace. Authentication runs in namespace middleware (Nest guards do not run
 * at connect); each socket joins its user room, subscribes to channels through the policy
 * registry, and may catch up on missed events with `since`. The transport-independent parts
 * (policies, event log, presence) live in their own services.
 */
@WebSocketGateway({ namespace: '/realtime' })
export class RealtimeGateway implements OnGatewayInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(RealtimeGateway.name);
  private namespace: Namespace;
  private draining = false;
  private sweep?: NodeJS.Timeout;
  private readonly settings;
  /** The gateway's own client events; other modules' come from the ClientEventRegistry. */
  private readonly builtins = new Map<string, ClientEventHandler>([
    ['subscribe', (socket, data) => this.subscribe(socket, data)],
    ['unsubscribe', (socket, data) => this.unsubscribe(socket, data)],
    ['auth:refresh', (socket, data) => this.refresh(socket, data)],
    ['typing:start', (socket, data) => this.typing(socket, data, true)],
    ['typing:stop', (socket, data) => this.typing(socket, data, false)],
    ['room:join', (socket, data) => this.roomJoin(socket, data).catch(roomError)],
    ['room:leave', (socket, data) => this.roomLeave(socket, data).catch(roomError)],
  ]);

  constructor(
    config: AppConfig,
    private readonly verifier: TokenVerifier,
    private readonly policies: ChannelPolicyRegistry,
    private readonly log: EventLogService,
    private readonly presence: PresenceService,
    private readonly realtime: RealtimeService,
    private readonly limiter: ConnectionLimiter,
    private readonly metrics: RealtimeMetrics,
    private readonly clientEvents: ClientEventRegistry,
  ) {
    this.settings = config.realtime;
  }

  afterInit(namespace: Namespace): void {
    this.namespace = namespace;
    this.realtime.attach(namespace);
    // New handshakes are refused at the transport while draining, so clients back off and retry
    // (another pod); a namespace-middleware error would not be retried by socket.io-client.
    namespace.server.engine.opts.allowRequest = (_req, callback) =>
      this.draining ? callback('server_draining', false) : callback(null, true);
    namespace.use((socket, next) =>
      this.authenticate(socket as TetherSocket).then(
        () => next(),
        (err: Error) => next(err),
      ),
    );
    namespace.on('connection', (socket: TetherSocket) => this.onConnection(socket));
    // A socket made to leave a room by any pod (RealtimeService.removeFromChannel reaches every pod
    // through the adapter) also loses the channel from its session, so typing and the channel
    // count follow the room membership.
    namespace.adapter.on('leave-room', (room: string, id: string) => this.onLeftRoom(room, id));
    this.presence.setLocalSocketCounter(() => namespace.sockets.size);
    this.sweep = setInterval(() => this.sweepSockets(), 1000);
    this.sweep.unref();
  }

  /** Sockets on this pod. */
  get localSockets(): number {
    return this.namespace?.sockets.size ?? 0;
  }

  // ---- handshake ---------------------------------------------------------------------------

  private async authenticate(socket: TetherSocket): Promise<void> {
    const { auth, query, headers } = socket.handshake;
    const token =
      (typeof auth?.token === 'string' && auth.token) ||
      (typeof query.token === 'string' && query.token) ||
      bearerToken(headers.authorization);
    let user: AuthUser;
    try {
      user = await this.verifier.verify(token || undefined, { remember: false });
    } catch (err) {
      if (err instanceof DomainError) throw this.handshakeError(err.code, err.message);
      throw err;
    }
    const retryAfter = await this.limiter.hit(clientIp(socket), user.tenantId, user.userId).catch(() => 0);
    if (retryAfter) throw this.handshakeError('rate_limited', `Too many connections; retry in ${retryAfter} s`, { retryAfter });
    // The credential is not kept around in the handshake for the socket's lifetime.
    if (typeof auth?.token === 'string') delete auth.token;
    socket.data = new SocketSession(user, this.settings.eventsPerSecond);
  }

  private handshakeError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
    this.metrics.handshakeFailures.inc({ code });
    // socket.io-client surfaces `data` on the connect_error it raises.
    return Object.assign(new Error(message), { data: { code, message, ...extra } });
  }

  private onConnection(socket: TetherSocket): void {
    const session = socket.data;
    this.metrics.connects.inc();
    this.metrics.sockets.inc();
    // Handlers first, synchronously: a client may emit `subscribe` in its own connect handler.
    // One middleware dispatches every client event (no per-event listeners: two closures per
    // socket in all, this and the disconnect listener).
    socket.use((packet) => this.onClientEvent(socket, packet));
    socket.on('disconnect', (reason) => void this.onDisconnect(socket, reason));

    const { user } = session;
    // Counted before anything awaits, so a quick disconnect's decrement can never overtake it
    // (both go through one Redis connection, in order).
    const counted = this.presence.connected(user.tenantId, user.userId);
    void (async () => {
      await this.join(socket, roomOf(user.tenantId, userChannel(user.userId)));
      const hello: SessionEvents['session'] = {
        userId: user.userId,
        tenantId: user.tenantId,
        roles: user.roles,
        expiresAt: user.expiresAt.toISOString(),
        pingIntervalMs: this.settings.pingIntervalMs,
      };
      socket.emit('session', hello);
      await counted;
    })().catch((err: Error) => this.logger.warn(`connect ${socket.id}: ${err.message}`));
  }

  /** Every event a client emits: rate limit, then the gateway's own handler or another module's. */
  private onClientEvent(socket: TetherSocket, [event, ...args]: unknown[]): void {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as Ack) : undefined;
    const session = socket.data;
    if (!session.takeEvent()) return ack?.(errorAck('rate_limited', 'Too many events; slow down'));
    const name = String(event);
    const builtin = this.builtins.get(name);
    if (builtin) return this.respond(ack, () => builtin(socket, args[0]));
    const handler = this.clientEvents.get(name);
    if (!handler) return ack?.(errorAck('unknown_event', `Unknown event "${name}"`));
    this.respond(ack, () => handler(session.user, args[0]));
  }

  private async onDisconnect(socket: TetherSocket, reason: string): Promise<void> {
    const session = socket.data;
    this.metrics.sockets.dec();
    this.metrics.disconnects.inc({ reason: session.closeReason ?? reason });
    for (const channel of [...(session.typing?.keys() ?? [])]) this.stopTyping(socket, channel, true);
    await this.presence
      .disconnected(session.user.tenantId, session.user.userId)
      .catch((err: Error) => this.logger.warn(`presence on disconnect: ${err.message}`));
  }

  /** Runs a handler and acknowledges with its result, or with `{error: {code, message}}`. */
  private respond(ack: Ack | undefined, handler: () => unknown): void {
    Promise.resolve()
      .then(handler)
      .then(
        (result) => ack?.(result ?? { ok: true }),
        (err: Error) => {
          if (err instanceof DomainError) return ack?.(errorAck(err.code, err.message));
          this.logger.error(`socket handler failed: ${err.stack ?? err.message}`);
          ack?.(errorAck('internal_error', 'Internal server error'));
        },
      );
  }

  // ---- channels ----------------------------------------------------------------------------

  private async subscribe(socket: TetherSocket, data: unknown): Promise<SubscribeAck> {
    const { channels, since, tokens } = parseSubscribe(data, this.settings.maxChannelsPerSocket);
    const session = socket.data;
    const { tenantId } = session.user;
    const decisions = await Promise.all(channels.map((c) => this.policies.authorize(session.user, c, { token: tokenFor(tokens, c) })));
    const ack: SubscribeAck = { subscribed: [], rejected: [], offsets: {} };
    const plain: string[] = [];
    const recovering: string[] = [];
    for (const d of decisions) {
      if (!d.allowed) {
        ack.rejected.push({ channel: d.channel, reason: d.reason! });
        this.metrics.subscribeRejections.inc({ reason: d.reason! });
      } else if (!session.channels.has(d.channel) && session.channels.size >= this.settings.maxChannelsPerSocket) {
        ack.rejected.push({ channel: d.channel, reason: 'too_many_channels' });
        this.metrics.subscribeRejections.inc({ reason: 'too_many_channels' });
      } else {
        // Recovery only for a channel this socket is not already in (else it would get repeats).
        const recover = Boolean(since?.[d.channel]) && !session.channels.has(d.channel);
        session.channels.add(d.channel);
        ack.subscribed.push(d.channel);
        (recover ? recovering : plain).push(d.channel);
      }
    }

    await Promise.all(plain.map((c) => this.join(socket, roomOf(tenantId, c))));
    // Read positions after joining: anything newer than them is delivered live.
    Object.assign(ack.offsets, await this.log.currentOffsets(tenantId, plain));
    if (recovering.length) ack.recovered = {};
    for (const channel of recovering) {
      const { recovered, offset } = await this.recover(socket, channel, since![channel]);
      ack.recovered![channel] = recovered;
      ack.offsets[channel] = offset;
    }
    return ack;
  }

  /**
   * Replays what the socket missed on one channel, then hands over to live delivery with no gap
   * and no duplicate: live broadcasts are held for this socket from the moment it joins, the log
   * is read after the room subscription is active, the replay is sent, and only held events newer
   * than the replay are released. All or nothing: if the log cannot prove completeness, nothing
   * is replayed and the client is told to reload.
   */
  private async recover(socket: TetherSocket, channel: string, since: string): Promise<{ recovered: boolean; offset: string }> {
    const { tenantId } = socket.data.user;
    const room = roomOf(tenantId, channel);
    const held: { offset: string | undefined; deliver: () => void }[] = [];
    const gates = (socket.data.gates ??= new Map());
    gates.set(room, held);
    let last: string | undefined;
    let recovered = false;
    let offset: string | undefined;
    try {
      await this.join(socket, room);
      const result = await this.log.read(tenantId, channel, since, this.settings.logMaxLength * 2).catch((err: Error) => {
        if (err instanceof InvalidOffsetError) return undefined;
        throw err;
      });
      offset = result?.offset;
      if (result?.recovered && !result.hasMore) {
        recovered = true;
        for (const e of result.events) {
          const meta: EventMeta = { channel, offset: e.offset };
          socket.emit(e.event, e.data, meta);
        }
        last = result.offset;
      }
    } finally {
      // Synchronous from here to the gate's removal: nothing can slip in between.
      for (const h of held) {
        if (last === undefined || h.offset === undefined || compareOffsets(h.offset, last) > 0) {
          h.deliver();
          if (h.offset) offset = h.offset;
        }
      }
      gates.delete(room);
      if (last !== undefined) this.setFloor(socket, room, last);
    }
    return { recovered, offset: offset ?? '' };
  }

  /** Drops late live copies of replayed events for a while (see Floors in delivery-gate.ts). */
  private setFloor(socket: TetherSocket, room: string, offset: string): void {
    const floors = (socket.data.floors ??= new Map());
    floors.set(room, offset);
    setTimeout(() => {
      if (floors.get(room) === offset) floors.delete(room);
    }, FLOOR_MS).unref();
  }

  private async unsubscribe(socket: TetherSocket, data: unknown): Promise<{ unsubscribed: string[] }> {
    const { channels } = parseSubscribe(data, this.settings.maxChannelsPerSocket);
    const session = socket.data;
    const unsubscribed: string[] = [];
    for (const channel of channels) {
      if (!session.channels.delete(channel)) continue;
      this.stopTyping(socket, channel, true);
      await socket.leave(roomOf(session.user.tenantId, channel));
      unsubscribed.push(channel);
    }
    return { unsubscribed };
  }

  /** Joins a room and waits until this pod receives the room's broadcasts from every pod. */
  private async join(socket: Socket, room: string): Promise<void> {
    const adapter = this.namespace.adapter as unknown as RoomSubscriptions & { rooms: Map<string, Set<string>> };
    const existed = adapter.rooms.has(room);
    await socket.join(room);
    if (!existed) await adapter.whenSubscribed(room);
  }

  private onLeftRoom(room: string, id: string): void {
    const socket = this.namespace.sockets.get(id) as TetherSocket | undefined;
    const session = socket?.data;
    if (!session?.channels) return;
    const prefix = `${session.user.tenantId}|`;
    if (!room.startsWith(prefix)) return;
    const channel = room.slice(prefix.length);
    if (!session.channels.delete(channel)) return;
    this.stopTyping(socket!, channel, true);
  }

  // ---- token lifetime ----------------------------------------------------------------------

  /**
   * Warns a socket a minute before its token expires and closes it once the grace period after
   * expiry is over. Checked by the one-second sweep rather than by timers per socket (two timers
   * per idle socket cost more memory than the whole session).
   */
  private checkExpiry(socket: TetherSocket, now: number): void {
    const session = socket.data;
    const expiresAt = session.user.expiresAt.getTime();
    if (now >= expiresAt + this.settings.tokenGraceMs) {
      const expired: SessionEvents['auth:expired'] = {
        code: 'token_expired',
        message: 'The access token expired; reconnect with a fresh token',
      };
      socket.emit('auth:expired', expired);
      session.closeReason = 'token_expired';
      socket.disconnect(true);
    } else if (!session.expiryWarned && now >= expiresAt - EXPIRY_WARNING_MS && now < expiresAt) {
      session.expiryWarned = true;
      const warning: SessionEvents['auth:expiring'] = { expiresAt: session.user.expiresAt.toISOString(), code: 'token_expiring' };
      socket.emit('auth:expiring', warning);
    }
  }

  private async refresh(socket: TetherSocket, data: unknown): Promise<{ expiresAt: string }> {
    const token = (data as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || !token) throw new DomainError('invalid_payload', 'auth:refresh needs {token}');
    const user = await this.verifier.verify(token, { remember: false });
    const current = socket.data.user;
    if (user.userId !== current.userId || user.tenantId !== current.tenantId)
      throw new DomainError('token_mismatch', 'The new token must be for the same user and tenant');
    socket.data.user = user;
    socket.data.expiryWarned = false;
    return { expiresAt: user.expiresAt.toISOString() };
  }

  // ---- typing ------------------------------------------------------------------------------

  private typing(socket: TetherSocket, data: unknown, start: boolean): { ok: true } {
    const channel = (data as { channel?: unknown } | null)?.channel;
    if (typeof channel !== 'string' || !parseChannel(channel))
      throw new DomainError('invalid_payload', 'typing events need {channel}');
    const session = socket.data;
    if (!session.channels.has(channel)) throw new DomainError('not_subscribed', `Subscribe to ${channel} first`);
    if (!start) {
      this.stopTyping(socket, channel, true);
      return { ok: true };
    }
    const now = Date.now();
    const typing = (session.typing ??= new Map());
    const state = typing.get(channel);
    if (state) clearTimeout(state.stopTimer);
    const stopTimer = setTimeout(() => this.stopTyping(socket, channel, true), TYPING_TIMEOUT_MS);
    if (!state || now - state.relayedAt >= TYPING_THROTTLE_MS) {
      this.relayTyping(socket, channel, 'typing:start');
      typing.set(channel, { relayedAt: now, stopTimer });
    } else {
      typing.set(channel, { relayedAt: state.relayedAt, stopTimer });
    }
    return { ok: true };
  }

  private stopTyping(socket: TetherSocket, channel: string, relay: boolean): void {
    const state = socket.data.typing?.get(channel);
    if (!state) return;
    clearTimeout(state.stopTimer);
    socket.data.typing!.delete(channel);
    if (relay) this.relayTyping(socket, channel, 'typing:stop');
  }

  /** Volatile and not logged: typing is droppable. `socket.to` excludes the sender. */
  private relayTyping(socket: TetherSocket, channel: string, event: 'typing:start' | 'typing:stop'): void {
    const { tenantId, userId } = socket.data.user;
    socket.to(roomOf(tenantId, channel)).volatile.emit(event, { channel, userId }, { channel });
  }

  // ---- protection and drain -------------------------------------------------------------------

  /** Once a second over every local socket: token expiry, and slow consumers. */
  private sweepSockets(): void {
    const now = Date.now();
    for (const socket of this.namespace.sockets.values()) {
      this.checkExpiry(socket as TetherSocket, now);
      if (socket.connected) this.disconnectSlowConsumer(socket as TetherSocket);
    }
  }

  /** Closes the transport of a socket whose unsent data exceeds the cap; the client reconnects. */
  private disconnectSlowConsumer(socket: TetherSocket): void {
    const conn = socket.conn as unknown as RawConnection;
    let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
    for (const packet of conn.writeBuffer ?? []) {
      const d = packet.data;
      bytes += typeof d === 'string' ? d.length : (d?.byteLength ?? 0);
    }
    if (bytes > this.settings.maxBufferedBytes) {
      socket.data.closeReason = 'slow_consumer';
      this.logger.warn(`closing slow consumer ${socket.id}: ${bytes} bytes unsent`);
      dropTransport(socket);
    }
  }

  /**
   * SIGTERM: refuse new handshakes, close local sockets at the transport in jittered batches
   * (clients see "transport close" and reconnect, to another pod; `socket.disconnect()` would
   * tell them not to), then remove this pod's presence. Runs before Nest closes the server.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweep);
    if (!this.namespace) return;
    const sockets = [...this.namespace.sockets.values()].sort(() => Math.random() - 0.5);
    const batches = Math.min(10, sockets.length);
    const pause = batches ? this.settings.drainMs / batches : 0;
    for (let i = 0; i < batches; i++) {
      for (const socket of sockets.filter((_, j) => j % batches === i)) {
        (socket as TetherSocket).data.closeReason = 'server_draining';
        dropTransport(socket);
      }
      if (i < batches - 1) await new Promise((r) => setTimeout(r, pause * (0.5 + Math.random())));
    }
    await this.presence.reap(this.presence.podId).catch((err: Error) => this.logger.warn(`presence cleanup: ${err.message}`));
  }

  // ---- seed 001 rooms -------------------------------------------------------------------------

  /**
   * `room:join {roomId, token?, tokens?, since?}`: a `subscribe` to the room's channel (see
   * channelOfRoom), acknowledged the way seed 001's client reads it.
   */
  private async roomJoin(socket: TetherSocket, data: unknown): Promise<RoomAck> {
    const room = parseRoom(data);
    const channel = channelOfRoom(room.roomId, (key) => this.policies.has(key));
    const token = room.token ?? tokenFor(room.tokens, channel) ?? tokenFor(room.tokens, room.roomId);
    const since = typeof room.since === 'string' ? { [channel]: room.since } : room.since;
    const ack = await this.subscribe(socket, { channels: [channel], since, tokens: token === undefined ? undefined : { [channel]: token } });
    const rejected = ack.rejected[0];
    if (rejected) return { error: 'Unauthorized', reason: rejected.reason, roomId: room.roomId, channel };
    const recovered = ack.recovered?.[channel];
    return { success: true, roomId: room.roomId, channel, offset: ack.offsets[channel], ...(recovered === undefined ? {} : { recovered }) };
  }

  /** `room:leave {roomId}`: an `unsubscribe`; leaving a room the socket is not in succeeds too. */
  private async roomLeave(socket: TetherSocket, data: unknown): Promise<RoomAck> {
    const { roomId } = parseRoom(data);
    const channel = channelOfRoom(roomId, (key) => this.policies.has(key));
    await this.unsubscribe(socket, { channels: [channel] });
    return { success: true, roomId, channel };
  }
}

interface RawConnection {
  transport?: { socket?: { bufferedAmount?: number; terminate?: () => void } };
  writeBuffer?: { data?: string | ArrayBuffer }[];
  close(discard?: boolean): void;
}

/**
 * Closes a socket at the transport, so the client sees "transport close" and reconnects. Unsent
 * data is discarded (engine.io would otherwise wait for a drain that a stalled client never
 * allows), and a WebSocket is terminated rather than waiting for a close handshake.
 */
function dropTransport(socket: Socket): void {
  const conn = socket.conn as unknown as RawConnection;
  if (conn.writeBuffer) conn.writeBuffer.length = 0;
  const ws = conn.transport?.socket;
  if (ws?.terminate) ws.terminate();
  else conn.close(true);
}

function clientIp(socket: Socket): string {
  // Behind one load balancer (trust proxy 1): the address it appended last.
  const forwarded = socket.handshake.headers['x-forwarded-for'];
  const hops = typeof forwarded === 'string' ? forwarded.split(',').map((h) => h.trim()) : [];
  return hops[hops.length - 1] || socket.handshake.address;
}

function parseSubscribe(
  data: unknown,
  max: number,
): { channels: string[]; since?: Record<string, string>; tokens?: Record<string, string> } {
  const body = (data ?? {}) as { channels?: unknown; since?: unknown };
  const { channels, since, tokens } = body as typeof body & { tokens?: unknown };
  if (typeof data !== 'object' || data === null || !Array.isArray(channels) || channels.length === 0)
    throw new DomainError('invalid_payload', 'Expected {channels: [string, ...]}');
  if (channels.length > max) throw new DomainError('too_many_channels', `At most ${max} channels per request`);
  if (!channels.every((c) => typeof c === 'string')) throw new DomainError('invalid_payload', 'channels must be strings');
  if (since !== undefined) {
    if (typeof since !== 'object' || since === null || Array.isArray(since))
      throw new DomainError('invalid_payload', 'since must be {channel: offset}');
    if (!Object.values(since).every((v) => typeof v === 'string'))
      throw new DomainError('invalid_payload', 'since offsets must be strings');
  }
  if (tokens !== undefined && !isStringMap(tokens)) throw new DomainError('invalid_payload', 'tokens must be {channel: token}');
  return { channels: [...new Set(channels as string[])], since: since as Record<string, string> | undefined, tokens };
}

/** Seed 001's room acks: `{success: true}` or `{error: 'Unauthorized' | 'Bad Request', reason}`, plus what we know. */
type RoomAck =
  | { success: true; roomId: string; channel: string; offset?: string; recovered?: boolean }
  | { error: string; reason: string; message?: string; roomId?: string; channel?: string };

interface RoomRequest {
  roomId: string;
  token?: string;
  tokens?: Record<string, string>;
  since?: unknown;
}

/** `{roomId, ...}`, or a bare room id. */
function parseRoom(data: unknown): RoomRequest {
  const room = (typeof data === 'string' ? { roomId: data } : data) as Partial<Record<keyof RoomRequest, unknown>> | null;
  if (typeof room !== 'object' || room === null || typeof room.roomId !== 'string' || !room.roomId || room.roomId.length > 200)
    throw new DomainError('invalid_payload', 'Expected {roomId: string}');
  if (room.token !== undefined && typeof room.token !== 'string') throw new DomainError('invalid_payload', 'token must be a string');
  if (room.tokens !== undefined && !isStringMap(room.tokens)) throw new DomainError('invalid_payload', 'tokens must be {channel: token}');
  return room as RoomRequest;
}

/** Room events answer a bad request in the seed's shape too, rather than `{error: {code, message}}`. */
function roomError(err: unknown): RoomAck {
  if (err instanceof DomainError) return { error: 'Bad Request', reason: err.code, message: err.message };
  throw err;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** The token sent for one channel (own keys only: a channel named like an Object method gets none). */
function tokenFor(tokens: Record<string, string> | undefined, channel: string): string | undefined {
  return tokens && Object.hasOwn(tokens, channel) ? tokens[channel] : undefined;
}

export type { ErrorAck };
