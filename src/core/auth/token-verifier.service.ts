import { Injectable } from '@nestjs/common';
import { createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, errors, importSPKI, importX509, JWTPayload, jwtVerify, JWTVerifyGetKey, KeyInput } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../../config/app-config';
import { JwtAlgorithm, TENANT_ID_PATTERN } from '../../config/env.schema';
import { AuthError } from '../http/domain-error';
import { AuthUser, Role } from './auth-user';
import { claimAt, ClaimMapping, mapRoles } from './claims';
import { USER_ID_PATTERN } from './auth-user';

/** `|` for Auth0's `auth0|5f7c...` and `google-oauth2|1234` subjects. */
/** Tokens remembered as verified: clients and backends send the same token on many requests. */
const VERIFIED_CACHE_SIZE = 10_000;
/** How long a verification is trusted at most (bounds how long a token from a rotated-out JWKS key still works). */
const VERIFIED_CACHE_MS = 60_000;

/**
 * Verifies access tokens from the app's identity provider: HS256/384/512 with MOBILE_JWT_SECRET
 * (or NEXTAUTH_SECRET), or RSA, RSA-PSS, ECDSA and EdDSA from a PEM key or a JWKS URL. Only the
 * configured algorithm is accepted, so `alg: none` and algorithm confusion fail. Claims are read
 * where the settings say (user id, tenant, roles and a role-name mapping). Used by the HTTP guard
 * (so by polling too) and, at handshake, by the socket gateway (so by plain WebSocket too).
 */
@Injectable()
export class TokenVerifier {
  private readonly key: Promise<KeyInput> | JWTVerifyGetKey;
  private readonly algorithm: JwtAlgorithm;
  /**
   * Exact token string -> its user. A signature check costs ~0.3 ms of CPU (WebCrypto); the same
   * string verified a moment ago needs no second one. Entries never outlive the token's `exp`.
   */
  private readonly verified = new LRUCache<string, AuthUser>({ max: VERIFIED_CACHE_SIZE });
  private readonly listeners: ((user: AuthUser) => void)[] = [];

  constructor(private readonly config: AppConfig) {
    const jwt = config.jwt;
    this.algorithm = jwt.algorithm;
    // A KeyObject, not raw bytes: jose would import raw bytes again on every verify.
    if (jwt.algorithm.startsWith('HS')) this.key = Promise.resolve(createSecretKey(Buffer.from(jwt.secret!, 'utf8')));
    else if (jwt.publicKey)
      this.key = jwt.publicKey.includes('BEGIN CERTIFICATE')
        ? importX509(jwt.publicKey, jwt.algorithm)
        : importSPKI(jwt.publicKey, jwt.algorithm);
    else this.key = createRemoteJWKSet(new URL(jwt.jwksUrl!), { cooldownDuration: 30_000, timeoutDuration: 5000 });
    // Surface a malformed PEM at boot rather than on the first request.
    if (this.key instanceof Promise) this.key.catch(() => undefined);
  }

  /** A bad PEM key is a configuration error: fail at boot with the variable's name. */
  async assertUsable(): Promise<void> {
    if (this.key instanceof Promise)
      await this.key.catch((err: Error) => {
        throw new Error(`JWT_PUBLIC_KEY is invalid for ${this.algorithm}: ${err.message}`);
      });
  }

  /**
   * Called with each user whose token was just verified (not with those served from the cache), on
   * every transport: a module that remembers something from tokens (profiles: the display name) sees
   * it without a cost per request. A listener must be quick and must not throw.
   */
  onVerified(listener: (user: AuthUser) => void): void {
    this.listeners.push(listener);
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
    for (const listener of this.listeners) listener(user);
    return user;
  }

  private async verifyAccessToken(token: string): Promise<AuthUser> {
    const { issuer, audience, maxLifetimeSec, claims } = this.config.jwt;
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
    // token_invalid, not a code of its own: clients (and plain-WebSocket close codes) treat every
    // token_* refusal alike, "get a new token", which is the fix here too.
    if (maxLifetimeSec !== undefined) {
      if (typeof payload.iat !== 'number') throw new AuthError('token_invalid', 'The access token has no "iat" claim');
      if (typeof payload.exp === 'number' && payload.exp - payload.iat > maxLifetimeSec)
        throw new AuthError('token_invalid', `The access token lives longer than the accepted ${maxLifetimeSec} seconds`);
    }
    return toAuthUser(payload, claims);
  }

  /**
   * Checks a JWT's signature, algorithm, `exp` and `nbf` with the access-token keys and returns its
   * claims; jose's errors pass through. For other tokens the same issuer signs (channel tokens).
   */
  async verifySignature(token: string, claims: { issuer?: string; audience?: string | string[] } = {}): Promise<JWTPayload> {
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

function toAuthUser(payload: JWTPayload, mapping: ClaimMapping): AuthUser {
  const userId = claimAt(payload, mapping.userId);
  const tenantClaim = claimAt(payload, mapping.tenant);
  // A token that names a tenant is taken at its word (even a bad one is refused, never defaulted);
  // only a token naming none gets the single-tenant default.
  const tenantId = tenantClaim === undefined ? mapping.defaultTenant : typeof tenantClaim === 'number' ? String(tenantClaim) : tenantClaim;
  const { exp } = payload;
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId))
    throw new AuthError('token_invalid', `The access token has no valid "${mapping.userId}" claim`);
  if (typeof tenantId !== 'string' || !TENANT_ID_PATTERN.test(tenantId))
    throw new AuthError('token_invalid', `The access token has no valid "${mapping.tenant}" claim`);
  if (typeof exp !== 'number') throw new AuthError('token_invalid', 'The access token has no "exp" claim');
  const name = mapping.name === undefined ? undefined : displayName(claimAt(payload, mapping.name));
  // Frozen: one verified user may be handed to many requests (see the cache in TokenVerifier).
  return Object.freeze({
    userId,
    tenantId,
    roles: Object.freeze(mapRoles(payload, mapping)) as Role[],
    expiresAt: new Date(exp * 1000),
    ...(name ? { name } : {}),
  });
}

/** A display name from a claim: a string of printable characters, trimmed, at most 100; else none. */
function displayName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.replace(/\p{Cc}/gu, ' ').trim();
  return name ? [...name].slice(0, 100).join('') : undefined;
}
