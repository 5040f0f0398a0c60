import { Injectable } from '@nestjs/common';
import { SignJWT } from 'jose';
import { AppConfig } from '../../config/app-config';
import type { Role } from '../../core/auth/auth-user';

/** The tenant demo users live in, apart from every real one. */
export const DEMO_TENANT = 'demo';
/** Leaders may create services, check others in and post announcements: the page shows all of it live. */
export const DEMO_ROLES: Role[] = ['MEMBER', 'LEADER'];

export interface DemoToken {
  token: string;
  userId: string;
  tenantId: string;
  roles: Role[];
  expiresAt: string;
}

/**
 * Mints access tokens for the demo page, development only (the module does not mount its route in
 * production). Signed like the app's own tokens: the configured HS* algorithm and secret, the
 * claims where JWT_*_CLAIM look for them, the issuer and audience when set.
 */
@Injectable()
export class DemoTokenService {
  constructor(private readonly config: AppConfig) {}

  async mint(userId: string): Promise<DemoToken> {
    const { algorithm, secret, issuer, audience, claims } = this.config.jwt;
    const expiresAt = Math.floor(Date.now() / 1000) + this.config.demo.tokenTtlSec;
    // A claim setting is a claim name first (see claimAt), so flat names fit dotted paths too.
    const payload: Record<string, unknown> = { [claims.tenant]: DEMO_TENANT, [claims.roles[0]]: DEMO_ROLES };
    if (claims.userId !== 'sub') payload[claims.userId] = userId;
    const jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(expiresAt);
    if (issuer) jwt.setIssuer(issuer);
    if (audience) jwt.setAudience(audience);
    const token = await jwt.sign(new TextEncoder().encode(secret));
    return { token, userId, tenantId: DEMO_TENANT, roles: DEMO_ROLES, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }
}
