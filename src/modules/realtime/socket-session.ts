import type { AuthUser } from '../../core/auth/auth-user';
import type { Floors, Gates } from './delivery-gate';

/** Token bucket for a socket's own events: `rate` per second, bursts up to twice that. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly rate: number) {
    this.tokens = rate * 2;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface TypingState {
  /** When we last relayed typing:start to the channel (throttle). */
  relayedAt: number;
  /** Sends typing:stop after a silence. */
  stopTimer: NodeJS.Timeout;
}

/** Everything the gateway keeps per socket, in `socket.data`. */
export interface SocketSession {
  user: AuthUser;
  channels: Set<string>;
  gates: Gates;
  floors?: Floors;
  bucket: TokenBucket;
  expiryTimers: NodeJS.Timeout[];
  typing: Map<string, TypingState>;
}

/** Error acknowledgement shape shared with HTTP: `{error: {code, message}}`. */
export interface ErrorAck {
  error: { code: string; message: string };
}

export function errorAck(code: string, message: string): ErrorAck {
  return { error: { code, message } };
}
