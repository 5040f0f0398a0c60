/** The app's access token, asked of `token()` when needed and cached until it nears expiry. */
export type TokenProvider = () => string | Promise<string>;

export class TokenSource {
  private current?: { token: string; expiresAt?: number };
  private pending?: Promise<string>;

  constructor(private readonly provider: TokenProvider) {}

  /** The cached token, or a new one when there is none or it expires within `marginMs`. */
  async get(marginMs = 10_000): Promise<string> {
    const c = this.current;
    if (c && (c.expiresAt === undefined || c.expiresAt - marginMs > Date.now())) return c.token;
    return this.fresh();
  }

  /** Always asks `token()` again (after a 401, `auth:expiring`, `token_expired`); concurrent callers share one call. */
  fresh(): Promise<string> {
    this.pending ??= Promise.resolve()
      .then(() => this.provider())
      .then((token) => {
        if (typeof token !== 'string' || !token) throw new Error('token() must return a non-empty string');
        this.current = { token, expiresAt: jwtExpiry(token) };
        return token;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forget the cached token (it was refused). */
  invalidate(token?: string): void {
    if (!token || this.current?.token === token) this.current = undefined;
  }

  /** When the cached token expires (epoch ms), if it is a JWT with `exp`. */
  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }
}

/** `exp` of a JWT in epoch milliseconds, without verifying it (the server does). */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url to a UTF-8 string, with no Buffer and no atob (neither is everywhere React Native runs). */
export function base64UrlDecode(input: string): string {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of input.replace(/=+$/, '')) {
    const index = ALPHABET.indexOf(ch === '+' ? '-' : ch === '/' ? '_' : ch);
    if (index < 0) throw new Error('invalid base64url');
    value = (value << 6) | index;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  // Percent-encoding then decodeURIComponent reads UTF-8 without TextDecoder (missing on older Hermes).
  return decodeURIComponent(bytes.map((b) => '%' + b.toString(16).padStart(2, '0')).join(''));
}
