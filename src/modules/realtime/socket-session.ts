import type { AuthUser } from '../../core/auth/auth-user';
import type { Floors, Gates } from './delivery-gate';

/**
 * Everything the gateway keeps per socket, in `socket.data`. One object with lazily created maps:
 * a pod holds tens of thousands of idle sockets, and every per-socket allocation counts.
 */
export class SocketSession {
  readonly channels = new Set<string>();
  /** Rooms being recovered (see delivery-gate.ts); created on the first recovery. */
  gates?: Gates;
  floors?: Floors;
  /** Presence channels this socket is counted in (see channel-presence.ts). */
  presenceChannels?: Set<string>;
  /** Set once auth:expiring was sent for the current token. */
  expiryWarned = false;
  /** The client confirms deliveries (`auth.ack` / `?ack=1`): see the delivery module. */
  acknowledges = false;
  /** The app's registered device behind this socket (`auth.deviceId`), named in delivery receipts. */
  deviceId?: string;
  /** How the client is connected: Socket.IO, or a plain WebSocket (JSON frames). */
  transport: 'socketio' | 'websocket' = 'socketio';
  /** Why the server closed the socket, for the disconnect metric. */
  closeReason?: string;
  // Token bucket for the socket's own events: `rate` per second, bursts up to twice that.
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    public user: AuthUser,
    private readonly rate: number,
  ) {
    this.tokens = rate * 2;
  }

  /** Takes one event from the bucket; false when the socket is over its rate. */
  takeEvent(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Error acknowledgement shape shared with HTTP: `{error: {code, message}}`. */
export interface ErrorAck {
  error: { code: string; message: string };
}

export function errorAck(code: string, message: string): ErrorAck {
  return { error: { code, message } };
}
