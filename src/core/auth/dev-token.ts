import { SignJWT } from 'jose';

export interface DevTokenClaims {
  sub: string;
  tid: string;
  roles: string[];
}

/** Signs an HS256 access token: for `npm run token`, tests and benchmarks, never the API. */
export function signDevToken(secret: string, claims: DevTokenClaims, ttlSeconds = 3600): Promise<string> {
  return new SignJWT({ tid: claims.tid, roles: claims.roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
