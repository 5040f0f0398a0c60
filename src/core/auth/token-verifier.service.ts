import { Injectable } from '@nestjs/common';
import { createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, errors, importSPKI, JWTPayload, jwtVerify, JWTVerifyGetKey, KeyInput } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../../config/app-config';
import { AuthError } from '../http/domain-error';
import { AuthUser, Role, ROLES } from './auth-user';

const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;
const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Tokens remembered as verified: clients and backends send the same token on many requests. */
const VERIFIED_CACHE_SIZE = 10_000;
/** How long a verification is trusted at most (bounds how long a token from a rotated-out JWKS key still works). */
const VERIFIED_CACHE_MS = 60_000;

/**
 * Verifies access tokens: HS256 with MOBILE_JWT_SECRET, or RS256 from a PEM public key or JWKS.
 * Only the configured algorithm is accepted, so `alg: none` and algorithm confusion fail.
 * Used by the HTTP guard and, at handshake, by the socket gateway.
 */
@Injectable()
export class TokenVerifier {
  private readonly key: Promise<KeyInput> | JWTVerifyGetKey;
  private readonly algorithm: 'HS256' | 'RS256';
  /**
   * Exact token string -> its user. A signature check costs ~0.3 ms of CPU (WebCrypto); the same
   * string verified a moment ago needs no second one. Entries never outlive the token's `exp`.
   */
  private readonly verified = new LRUCache<string, AuthUser>({ max: VERIFIED_CACHE_SIZE });

  constructor(private readonly config: AppConfig) {
    const jwt = config.jwt;
    this.algorithm = jwt.algorithm;
    // A KeyObject, not raw bytes: jose would import raw bytes again on every verify.
    if (jwt.algorithm === 'HS256') this.key = Promise.resolve(createSecretKey(Buffer.from(jwt.secret!, 'utf8')));
    else if (jwt.publicKey) this.key = importSPKI(jwt.publicKey, 'RS256');
    else this.key = createRemoteJWKSet(new URL(jwt.jwksUrl!), { cooldownDuration: 30_000, timeoutDuration: 5000 });
    // Surface a malformed PEM at boot rather than on the first request.
    if (this.key instanceof Promise) this.key.catch(() => undefined);
  }

  /** A bad PEM key is a configuration error: fail at boot with the variable's name. */
  async assertUsable(): Promise<void> {
    if (this.key instanceof Promise)
      await this.key.catch((err: Error) => {
        throw new Error(`JWT_PUBLIC_KEY is invalid: ${err.message}`);
      });
  }

  /**
   * `remember: false` for a token checked once per long-lived connection (a socket handshake):
   * remembering it would only hold memory for every connected client.
   */
  async verify(token: string | undefined | null, options: { remember?: boolean } = {}): Promise<AuthUser> {
    if (!token) throw new AuthError('token_missing', 'An access token is required');
    const known = this.verified.get(token);
    if (known) return known;
    const user = await this.verifyAccessToken(token);
    const ttl = Math.min(user.expiresAt.getTime() - Date.now(), VERIFIED_CACHE_MS);
    if (ttl > 0 && options.remember !== false) this.verified.set(token, user, { ttl });
    return user;
  }

  private async verifyAccessToken(token: string): Promise<AuthUser> {
    const { issuer, audience } = this.config.jwt;
    let payload: JWTPayload;
    try {
      payload = await this.verifySignature(token, { issuer, audience });
    } catch (err) {
      throw toAuthError(err);
    }
    // A channel subscription token (realtime's host channels) names a channel; it must never
    // open the API, even when it is signed with the same key.
    if ('channel' in payload || 'channels' in payload)
      throw new AuthError('token_invalid', 'A channel subscription token is not an access token');
    return toAuthUser(payload);
  }

  /**
   * Checks a JWT's signature, algorithm, `exp` and `nbf` with the access-token keys and returns its
   * claims; jose's errors pass through. For other tokens the same issuer signs (channel tokens).
   */
  async verifySignature(token: string, claims: { issuer?: string; audience?: string } = {}): Promise<JWTPayload> {
    const options = { algorithms: [this.algorithm], ...claims, clockTolerance: this.config.jwt.clockToleranceSec };
    const result =
      typeof this.key === 'function' ? await jwtVerify(token, this.key, options) : await jwtVerify(token, await this.key, options);
    return result.payload;
  }
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof errors.JWTExpired) return new AuthError('token_expired', 'The access token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new AuthError('token_not_yet_valid', 'The access token is not valid yet');
    return new AuthError('token_invalid', `The access token's "${err.claim}" claim is not accepted`);
  }
  return new AuthError('token_invalid', 'The access token is invalid');
}

function toAuthUser(payload: JWTPayload): AuthUser {
  const { sub, tid, roles, exp } = payload as JWTPayload & { tid?: unknown; roles?: unknown };
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub)) throw new AuthError('token_invalid', 'The access token has no valid "sub" claim');
  if (typeof tid !== 'string' || !TENANT_PATTERN.test(tid))
    throw new AuthError('token_invalid', 'The access token has no valid "tid" claim');
  if (typeof exp !== 'number') throw new AuthError('token_invalid', 'The access token has no "exp" claim');
  const roleList = Array.isArray(roles) ? roles : typeof roles === 'string' ? [roles] : [];
  // Frozen: one verified user may be handed to many requests (see the cache in TokenVerifier).
  return Object.freeze({
    userId: sub,
    tenantId: tid,
    roles: Object.freeze(roleList.filter((r): r is Role => (ROLES as readonly unknown[]).includes(r))) as Role[],
    expiresAt: new Date(exp * 1000),
  });
}
