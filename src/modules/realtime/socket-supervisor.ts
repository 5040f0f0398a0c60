import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import { TokenVerifier } from '../../core/auth/token-verifier.service';
import { DomainError } from '../../core/http/domain-error';
import { parsePayload } from './client-event.registry';
import { PresenceService } from './presence.service';
import type { RealtimeNamespace, RealtimeSocket } from './realtime.events';

const EXPIRY_WARNING_MS = 60_000;
/**
 * Every socket is looked at once a second, a tenth of them every 100 ms: one pass over 20,000
 * sockets at once held the event loop for 7-9 ms every second (bench/connections' idle lag).
 */
const SWEEP_SLICES = 10;

const REFRESH = z.object({ token: z.string().min(1) });

/** `auth:refresh` payload: `{token}`. */
export function parseRefreshToken(data: unknown): string {
  return parsePayload(REFRESH, data, '{token}').token;
}

/**
 * Keeps this pod's sockets within their limits: tokens expire (warned a minute ahead, closed after
 * the grace period unless refreshed), a client too slow to read is dropped, and SIGTERM drains.
 */
@Injectable()
export class SocketSupervisor implements BeforeApplicationShutdown {
  private readonly logger = new Logger(SocketSupervisor.name);
  private readonly settings;
  private namespace?: RealtimeNamespace;
  private draining = false;
  private sweep?: NodeJS.Timeout;
  /** Where the sweep stands in the namespace's sockets (a Map iterator: sockets added or removed meanwhile are fine). */
  private cursor?: Iterator<RealtimeSocket>;

  constructor(
    config: AppConfig,
    private readonly verifier: TokenVerifier,
    private readonly presence: PresenceService,
  ) {
    this.settings = config.realtime;
  }

  start(namespace: RealtimeNamespace): void {
    this.namespace = namespace;
    // New handshakes are refused at the transport while draining, so clients back off and retry
    // (another pod); a namespace-middleware error would not be retried by socket.io-client.
    namespace.server.engine.opts.allowRequest = (_req, callback) =>
      this.draining ? callback('server_draining', false) : callback(null, true);
    this.sweep = setInterval(() => this.sweepSlice(namespace), 1000 / SWEEP_SLICES);
    this.sweep.unref();
  }

  async refresh(socket: RealtimeSocket, token: string): Promise<{ expiresAt: string }> {
    const user = await this.verifier.verify(token, { remember: false });
    const current = socket.data.user;
    if (user.userId !== current.userId || user.tenantId !== current.tenantId)
      throw new DomainError('token_mismatch', 'The new token must be for the same user and tenant');
    socket.data.user = user;
    socket.data.expiryWarned = false;
    return { expiresAt: user.expiresAt.toISOString() };
  }

  /**
   * About once a second for every local socket: token expiry, and slow consumers. One sweep rather
   * than timers per socket (two timers per idle socket cost more memory than the whole session).
   */
  private sweepSlice(namespace: RealtimeNamespace): void {
    const now = Date.now();
    for (let budget = Math.ceil(namespace.sockets.size / SWEEP_SLICES); budget > 0; budget--) {
      this.cursor ??= namespace.sockets.values();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        return;
      }
      const socket = next.value;
      this.checkExpiry(socket, now);
      if (socket.connected) this.disconnectSlowConsumer(socket);
    }
  }

  /** Warns a socket a minute before its token expires and closes it once the grace period after expiry is over. */
  private checkExpiry(socket: RealtimeSocket, now: number): void {
    const session = socket.data;
    const expiresAt = session.user.expiresAt.getTime();
    if (now >= expiresAt + this.settings.tokenGraceMs) {
      socket.emit('auth:expired', { code: 'token_expired', message: 'The access token expired; reconnect with a fresh token' });
      session.closeReason = 'token_expired';
      socket.disconnect(true);
    } else if (!session.expiryWarned && now >= expiresAt - EXPIRY_WARNING_MS && now < expiresAt) {
      session.expiryWarned = true;
      socket.emit('auth:expiring', { expiresAt: session.user.expiresAt.toISOString(), code: 'token_expiring' });
    }
  }

  /** Closes the transport of a socket whose unsent data exceeds the cap; the client reconnects. */
  private disconnectSlowConsumer(socket: RealtimeSocket): void {
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
        socket.data.closeReason = 'server_draining';
        dropTransport(socket);
      }
      if (i < batches - 1) await new Promise((r) => setTimeout(r, pause * (0.5 + Math.random())));
    }
    await this.presence.reap(this.presence.podId).catch((err: Error) => this.logger.warn(`presence cleanup: ${err.message}`));
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
function dropTransport(socket: RealtimeSocket): void {
  const conn = socket.conn as unknown as RawConnection;
  if (conn.writeBuffer) conn.writeBuffer.length = 0;
  const ws = conn.transport?.socket;
  if (ws?.terminate) ws.terminate();
  else conn.close(true);
}
