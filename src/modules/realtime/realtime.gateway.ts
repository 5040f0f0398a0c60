import { Logger } from '@nestjs/common';
import { OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { AppConfig } from '../../config/app-config';
import { bearerToken } from '../../core/auth/auth.guards';
import type { AuthUser } from '../../core/auth/auth-user';
import { TokenVerifier } from '../../core/auth/token-verifier.service';
import { TenantScope } from '../../core/database/tenant-scope';
import { DomainError } from '../../core/http/domain-error';
import { unavailableDependency } from '../../core/http/unavailable';
import { ChannelSubscriptions } from './channel-subscriptions';
import { ClientEventRegistry, SocketContext } from './client-event.registry';
import { ConnectionLimiter } from './connection-limiter';
import { PresenceFollows } from './presence-follows';
import { PresenceService } from './presence.service';
import type { RealtimeNamespace, RealtimeSocket } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimeService } from './realtime.service';
import { errorAck, SocketSession } from './socket-session';
import { SocketSupervisor } from './socket-supervisor';
import { TypingRelay } from './typing-relay';

type Ack = (response: unknown) => void;

/**
 * The /realtime namespace: wiring and dispatch only, in the order a connection lives. The
 * handshake is checked in namespace middleware (Nest guards do not run at connect); the session
 * joins the user's own channel and is told who it is; every client event goes through the
 * ClientEventRegistry; a disconnect ends typing and presence. The work lives beside it:
 * ChannelSubscriptions, SocketSupervisor, TypingRelay, PresenceService.
 */
@WebSocketGateway({ namespace: '/realtime' })
export class RealtimeGateway implements OnGatewayInit {
  private readonly logger = new Logger(RealtimeGateway.name);
  private readonly settings;

  constructor(
    config: AppConfig,
    private readonly verifier: TokenVerifier,
    private readonly limiter: ConnectionLimiter,
    private readonly metrics: RealtimeMetrics,
    private readonly presence: PresenceService,
    private readonly realtime: RealtimeService,
    private readonly subscriptions: ChannelSubscriptions,
    private readonly supervisor: SocketSupervisor,
    private readonly typing: TypingRelay,
    private readonly clientEvents: ClientEventRegistry,
    private readonly follows: PresenceFollows,
  ) {
    this.settings = config.realtime;
  }

  afterInit(namespace: RealtimeNamespace): void {
    this.realtime.attach(namespace);
    this.follows.attach(namespace);
    this.supervisor.start(namespace);
    this.subscriptions.followRoomLeaves(namespace);
    namespace.use((socket, next) =>
      this.authenticate(socket).then(
        () => next(),
        (err: Error) => next(err),
      ),
    );
    namespace.on('connection', (socket) => this.onConnection(socket));
  }

  // ---- handshake ---------------------------------------------------------------------------

  private async authenticate(socket: RealtimeSocket): Promise<void> {
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
    // Fails open: with Redis away (its connection fails fast) connections are not counted, and a
    // client whose socket dropped with Redis can come back.
    const retryAfter = await this.limiter.hit(clientIp(socket), user.tenantId, user.userId).catch(() => 0);
    if (retryAfter) throw this.handshakeError('rate_limited', `Too many connections; retry in ${retryAfter} s`, { retryAfter });
    // The credential is not kept around in the handshake for the socket's lifetime.
    if (typeof auth?.token === 'string') delete auth.token;
    const session = new SocketSession(user, this.settings.eventsPerSecond);
    // Acknowledging clients: `auth: {ack: true, deviceId}` (Socket.IO) or `?ack=1&deviceId=` (plain WebSocket).
    session.acknowledges = auth?.ack === true || query.ack === '1' || query.ack === 'true';
    const deviceId = typeof auth?.deviceId === 'string' ? auth.deviceId : typeof query.deviceId === 'string' ? query.deviceId : '';
    if (deviceId && deviceId.length <= 64) session.deviceId = deviceId;
    if ((socket.request as { tetherToken?: string }).tetherToken !== undefined) session.transport = 'websocket';
    socket.data = session;
  }

  private handshakeError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
    this.metrics.handshakeFailures.inc({ code });
    // socket.io-client surfaces `data` on the connect_error it raises.
    return Object.assign(new Error(message), { data: { code, message, ...extra } });
  }

  // ---- session -----------------------------------------------------------------------------

  private onConnection(socket: RealtimeSocket): void {
    this.metrics.connects.inc();
    this.metrics.sockets.inc();
    // Handlers first, synchronously: a client may emit `subscribe` in its own connect handler.
    // One middleware dispatches every client event (no per-event listeners: two closures per
    // socket in all, this and the disconnect listener).
    socket.use((packet) => this.onClientEvent(socket, packet));
    socket.on('disconnect', (reason) => void this.onDisconnect(socket, reason));

    const { user } = socket.data;
    // Counted before anything awaits, so a quick disconnect's decrement can never overtake it
    // (both go through one Redis connection, in order). Best effort: with Redis away the socket
    // is not counted (presence heals with the pods' heartbeats once Redis is back).
    // Handled at once: awaited only later, a rejection left alone meanwhile would end the process.
    const counted = this.presence
      .connected(user.tenantId, user.userId, socket.data.acknowledges)
      .catch((err: Error) => this.logger.warn(`presence on connect: ${err.message}`));
    void TenantScope.run(user.tenantId, async () => {
      // With Redis away the user channel is joined on this pod; its cross-pod subscription
      // follows when Redis is back. The session is announced either way.
      await this.subscriptions
        .joinUserChannel(socket)
        .catch((err: Error) => this.logger.warn(`user channel of ${socket.id}: ${err.message}`));
      // AUTO_JOIN_CHANNELS, before the session is announced: a client that waits for it is in them.
      const channels = await this.subscriptions.joinAutoChannels(socket).catch((err: Error) => {
        this.logger.warn(`auto-join channels of ${socket.id}: ${err.message}`);
        return [];
      });
      socket.emit('session', {
        userId: user.userId,
        tenantId: user.tenantId,
        roles: user.roles,
        expiresAt: user.expiresAt.toISOString(),
        pingIntervalMs: this.settings.pingIntervalMs,
        channels,
      });
      await counted;
    }).catch((err: Error) => this.logger.warn(`connect ${socket.id}: ${err.message}`));
  }

  // ---- events ------------------------------------------------------------------------------

  /** Every event a client emits: rate limit, then its handler from the registry. */
  private onClientEvent(socket: RealtimeSocket, [event, ...args]: unknown[]): void {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as Ack) : undefined;
    if (!socket.data.takeEvent()) return ack?.(errorAck('rate_limited', 'Too many events; slow down'));
    const name = String(event);
    // An event emitted with an ack and no payload has the ack as its first argument.
    const data = args[0] === ack ? undefined : args[0];
    const handler = this.clientEvents.handlerFor(name, data);
    if (!handler) return ack?.(errorAck('unknown_event', `Unknown event "${name}"`));
    // Its database work sees the socket's tenant's rows only (row-level security).
    const context = this.contextOf(socket);
    this.respond(ack, () => TenantScope.run(context.user.tenantId, () => handler(context, data)));
  }

  private contextOf(socket: RealtimeSocket): SocketContext {
    const session = socket.data;
    return {
      socketId: socket.id,
      user: session.user,
      acknowledges: session.acknowledges,
      deviceId: session.deviceId,
      transport: session.transport,
      channels: session.channels,
      subscribe: (request) => this.subscriptions.subscribe(socket, request),
      unsubscribe: (channels) => this.subscriptions.unsubscribe(socket, channels),
      refreshToken: (token) => this.supervisor.refresh(socket, token),
    };
  }

  /** Runs a handler and acknowledges with its result, or with `{error: {code, message}}`. */
  private respond(ack: Ack | undefined, handler: () => unknown): void {
    Promise.resolve()
      .then(handler)
      .then(
        (result) => ack?.(result ?? { ok: true }),
        (err: Error) => {
          if (err instanceof DomainError) return ack?.(errorAck(err.code, err.message));
          const away = unavailableDependency(err);
          if (away) return ack?.(errorAck(away.code, away.message));
          this.logger.error(`socket handler failed: ${err.stack ?? err.message}`);
          ack?.(errorAck('internal_error', 'Internal server error'));
        },
      );
  }

  // ---- disconnect --------------------------------------------------------------------------

  private async onDisconnect(socket: RealtimeSocket, reason: string): Promise<void> {
    const session = socket.data;
    this.metrics.sockets.dec();
    this.metrics.disconnects.inc({ reason: session.closeReason ?? reason });
    this.typing.socketClosed(socket.id);
    this.follows.socketClosed(socket.id);
    await this.presence
      .disconnected(session.user.tenantId, session.user.userId, session.acknowledges)
      .catch((err: Error) => this.logger.warn(`presence on disconnect: ${err.message}`));
  }
}

function clientIp(socket: RealtimeSocket): string {
  // Behind one load balancer (trust proxy 1): the address it appended last.
  const forwarded = socket.handshake.headers['x-forwarded-for'];
  const hops = typeof forwarded === 'string' ? forwarded.split(',').map((h) => h.trim()) : [];
  return hops[hops.length - 1] || socket.handshake.address;
}
