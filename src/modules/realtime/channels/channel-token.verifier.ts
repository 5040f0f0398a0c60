import { Injectable } from '@nestjs/common';
import { createSecretKey, KeyObject } from 'node:crypto';
import { errors, JWTPayload, jwtVerify } from 'jose';
import { AppConfig } from '../../../config/app-config';
import type { AuthUser } from '../../../core/auth/auth-user';
import { TokenVerifier } from '../../../core/auth/token-verifier.service';
import type { PolicyDecision } from './channel-policy.registry';

/**
 * Checks subscription tokens: short-lived JWTs the host backend signs to let one user into
 * channels it owns. Claims: `sub` (the user), `channel` and/or `channels` (the channels it
 * opens), `exp`, and optionally `tid` (the tenant). Signed with CHANNEL_TOKEN_SECRET (HS256) when
 * set, else with the access-token keys. A token without a channel claim (an access token) is
 * not a subscription token, and the access-token verifier refuses tokens with one.
 */
@Injectable()
export class ChannelTokenVerifier {
  private readonly secret?: KeyObject;
  private readonly clockTolerance: number;

  constructor(
    config: AppConfig,
    private readonly accessTokens: TokenVerifier,
  ) {
    const secret = config.hostChannels.tokenSecret;
    if (secret) this.secret = createSecretKey(Buffer.from(secret, 'utf8'));
    this.clockTolerance = config.jwt.clockToleranceSec;
  }

  async check(user: AuthUser, channel: string, token: string | undefined): Promise<PolicyDecision> {
    if (!token) return { reason: 'token_required' };
    let payload: JWTPayload;
    try {
      payload = this.secret
        ? (await jwtVerify(token, this.secret, { algorithms: ['HS256'], clockTolerance: this.clockTolerance })).payload
        : await this.accessTokens.verifySignature(token);
    } catch (err) {
      return { reason: err instanceof errors.JWTExpired ? 'token_expired' : 'token_invalid' };
    }
    const claims = payload as JWTPayload & { tid?: unknown; channel?: unknown; channels?: unknown };
    const named = [claims.channel, ...(Array.isArray(claims.channels) ? claims.channels : [])].filter((c) => typeof c === 'string');
    if (typeof claims.exp !== 'number' || named.length === 0) return { reason: 'token_invalid' };
    const sameTenant = claims.tid === undefined || claims.tid === user.tenantId;
    if (claims.sub !== user.userId || !sameTenant || !named.includes(channel)) return { reason: 'token_mismatch' };
    return true;
  }
}
