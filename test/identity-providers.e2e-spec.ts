import { CryptoKey, exportJWK, exportSPKI, generateKeyPair, JWTPayload, SignJWT } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { openPlain } from './support/plain-ws';
import { connect, next } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Tokens shaped as each identity provider issues them (claims, algorithm, key source), checked on
 * every way in: HTTP (`/me`, a role-guarded route, polling), the Socket.IO handshake and plain
 * WebSocket. The forged-token cases of auth.e2e-spec.ts run against the default settings.
 */

const ME = '/api/mobile/v1/me';
const now = () => Math.floor(Date.now() / 1000);

async function me(t: TestApp, token: string, status = 200) {
  const res = await request(t.url).get(ME).set('Authorization', `Bearer ${token}`).expect(status);
  return res.body;
}

async function expect401(t: TestApp, token: string, message?: RegExp) {
  const body = await me(t, token, 401);
  expect(body).toMatchObject({ statusCode: 401, code: expect.stringMatching(/^token_/), requestId: expect.any(String) });
  if (message) expect(body.message).toMatch(message);
}

function signHs(secret: string, alg: string, claims: JWTPayload, ttl = 600) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(now() + ttl)
    .sign(new TextEncoder().encode(secret));
}

interface Issuer {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  sign(claims: JWTPayload, ttl?: number, key?: CryptoKey): Promise<string>;
}

async function issuer(alg: string, kid: string): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    alg,
    kid,
    privateKey,
    publicKey,
    sign: (claims, ttl = 600, key = privateKey) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg, kid, typ: 'JWT' })
        .setIssuedAt()
        .setExpirationTime(now() + ttl)
        .sign(key),
  };
}

/** A JWKS per path on 127.0.0.1, as the providers publish them. */
async function serveJwks(sets: Record<string, Issuer[]>): Promise<{ url: (path: string) => string; close: () => Promise<void> }> {
  const bodies: Record<string, string> = {};
  for (const [path, issuers] of Object.entries(sets)) {
    const keys = await Promise.all(issuers.map(async (i) => ({ ...(await exportJWK(i.publicKey)), kid: i.kid, alg: i.alg, use: 'sig' })));
    bodies[path] = JSON.stringify({ keys });
  }
  const server: Server = createServer((req, res) => {
    const body = bodies[req.url ?? ''];
    if (!body) return res.writeHead(404).end();
    res.setHeader('content-type', 'application/json').end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: (path) => `${base}${path}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The token works on the socket handshake and plain WebSocket with the same identity as on HTTP. */
async function expectSocketsAccept(t: TestApp, token: string, identity: { userId: string; tenantId: string }) {
  const socket = await connect(t.url, token);
  socket.close();
  const plain = await openPlain(t.url, { token });
  expect(await plain.next((f) => f.type === 'connected')).toMatchObject({ type: 'connected', ...identity });
  plain.ws.close();
}

async function expectSocketsRefuse(t: TestApp, token: string) {
  await expect(connect(t.url, token)).rejects.toThrow(/token_invalid|access token/);
  const plain = await openPlain(t.url, { token });
  expect((await plain.next((f) => f.type === 'error')).error.code).toBe('token_invalid');
  expect((await plain.closed).code).toBe(4401);
}

describe('Supabase (the messaging app): HS256 with the project secret, role "authenticated", aud, no tenant', () => {
  const secret = randomBytes(32).toString('base64'); // Supabase's JWT secret, used as it is written
  const iss = 'https://abcdefgh.supabase.co/auth/v1';
  let t: TestApp;
  const supabase = (claims: JWTPayload, ttl?: number) =>
    signHs(secret, 'HS256', { iss, aud: 'authenticated', role: 'authenticated', email: 'ana@example.com', ...claims }, ttl);
  beforeAll(async () => {
    t = await startTestApp({
      MOBILE_JWT_SECRET: secret,
      JWT_ISSUER: iss,
      JWT_AUDIENCE: 'authenticated',
      JWT_ROLES_CLAIM: 'role,app_metadata.roles',
      JWT_ROLE_MAP: 'authenticated:MEMBER,service_role:SERVICE',
      JWT_TENANT_CLAIM: 'app_metadata.tenant_id',
      JWT_DEFAULT_TENANT: 'main',
    });
  });
  afterAll(() => t.close());

  it('maps a user token to the default tenant and MEMBER, on HTTP, polling, Socket.IO and plain WebSocket', async () => {
    const userId = randomUUID();
    const token = await supabase({ sub: userId, app_metadata: { provider: 'email' } });
    expect(await me(t, token)).toMatchObject({ userId, tenantId: 'main', roles: ['MEMBER'] });
    await request(t.url)
      .get('/api/mobile/v1/realtime/events')
      .query({ channel: 'announcements' })
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    await request(t.url).get('/api/mobile/v1/admin/queues').set('Authorization', `Bearer ${token}`).expect(403);
    await expectSocketsAccept(t, token, { userId, tenantId: 'main' });
  });

  it('maps the service_role key to SERVICE (the server API opens) and reads a tenant from app_metadata', async () => {
    const service = await supabase({ role: 'service_role', sub: 'backend' });
    expect(await me(t, service)).toMatchObject({ userId: 'backend', tenantId: 'main', roles: ['SERVICE'] });
    await request(t.url).get('/api/mobile/v1/admin/queues').set('Authorization', `Bearer ${service}`).expect(200);
    const scoped = await supabase({ sub: 'u2', app_metadata: { tenant_id: 'acme', roles: ['LEADER'] } });
    expect(await me(t, scoped)).toMatchObject({ userId: 'u2', tenantId: 'acme', roles: ['MEMBER', 'LEADER'] });
  });

  it('refuses what Supabase would not have issued: other audience, issuer, secret, algorithm, a bad tenant', async () => {
    await expect401(t, await signHs(secret, 'HS256', { iss, aud: 'anon-key', sub: 'u1' }), /"aud"/);
    await expect401(t, await signHs(secret, 'HS256', { iss: 'https://evil.supabase.co/auth/v1', aud: 'authenticated', sub: 'u1' }));
    await expect401(t, await signHs('x'.repeat(44), 'HS256', { iss, aud: 'authenticated', sub: 'u1' }));
    await expect401(t, await signHs(secret, 'HS512', { iss, aud: 'authenticated', sub: 'u1' })); // not the pinned algorithm
    // A tenant the token names but that is not valid is refused, never replaced by the default.
    await expect401(t, await supabase({ sub: 'u1', app_metadata: { tenant_id: 'bad tenant!' } }), /app_metadata\.tenant_id/);
    await expect401(t, await supabase({ sub: 'u1', app_metadata: { tenant_id: { $ne: 1 } } }));
    await expect401(t, await supabase({ app_metadata: {} }), /"sub"/);
  });
});

describe('a multi-tenant deployment (no default tenant)', () => {
  let t: TestApp;
  let secret: string;
  beforeAll(async () => {
    t = await startTestApp({ JWT_TENANT_CLAIM: 'tenantId' });
    secret = t.config.jwt.secret!;
  });
  afterAll(() => t.close());

  it('takes the tenant from the configured claim and refuses a token whose tenant cannot be found, everywhere', async () => {
    expect(await me(t, await signHs(secret, 'HS256', { sub: 'u1', tenantId: 'church-7', roles: ['LEADER'] }))).toMatchObject({
      tenantId: 'church-7',
      roles: ['LEADER'],
    });
    const tenantless = await signHs(secret, 'HS256', { sub: 'u1', tid: 'church-7' }); // Tether's default claim is not read any more
    await expect401(t, tenantless, /no valid "tenantId" claim/);
    await expectSocketsRefuse(t, tenantless);
  });
});

describe('identity providers with asymmetric keys (JWKS served on 127.0.0.1)', () => {
  let auth0: Issuer;
  let firebase: Issuer;
  let cognito: Issuer;
  let stranger: Issuer;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  beforeAll(async () => {
    [auth0, firebase, cognito, stranger] = await Promise.all([
      issuer('RS256', 'auth0-1'),
      issuer('RS256', 'fb-1'),
      issuer('RS256', 'cognito-1'),
      issuer('RS256', 'auth0-1'), // same kid, another key
    ]);
    jwks = await serveJwks({
      '/auth0/.well-known/jwks.json': [auth0],
      '/firebase/jwk': [firebase],
      '/cognito/.well-known/jwks.json': [cognito],
    });
  });
  afterAll(() => jwks.close());

  it('Auth0: RS256, namespaced roles claim, organization as tenant, pipe in the subject', async () => {
    const t = await startTestApp({
      JWT_ALGORITHM: 'RS256',
      JWT_JWKS_URL: jwks.url('/auth0/.well-known/jwks.json'),
      JWT_ISSUER: 'https://tether-demo.eu.auth0.com/',
      JWT_AUDIENCE: 'https://api.tether.example.com',
      JWT_ROLES_CLAIM: 'https://tether.example.com/roles',
      JWT_ROLE_MAP: 'admin:ADMIN,editor:LEADER',
      JWT_TENANT_CLAIM: 'org_id',
    });
    try {
      const claims = {
        iss: 'https://tether-demo.eu.auth0.com/',
        sub: 'auth0|64f0c2a1b2c3d4e5f6a7b8c9',
        aud: ['https://api.tether.example.com', 'https://tether-demo.eu.auth0.com/userinfo'],
        azp: 'mobile-client-id',
        scope: 'openid profile',
        org_id: 'org_abc123',
        'https://tether.example.com/roles': ['editor', 'MEMBER', 'viewer'],
      };
      const token = await auth0.sign(claims);
      expect(await me(t, token)).toMatchObject({ userId: claims.sub, tenantId: 'org_abc123', roles: ['LEADER', 'MEMBER'] });
      await expectSocketsAccept(t, token, { userId: claims.sub, tenantId: 'org_abc123' });

      // A subject with a pipe works past the handshake: a direct conversation, its user rooms, presence.
      const bob = await connect(t.url, await auth0.sign({ ...claims, sub: 'auth0|bob' }));
      try {
        const auth = `Bearer ${token}`;
        const api = '/api/mobile/v1';
        const convo = await request(t.url)
          .post(`${api}/conversations`)
          .set('Authorization', auth)
          .send({ type: 'direct', participantIds: ['auth0|bob'] })
          .expect(201);
        const got = next<any>(bob, 'message:new');
        await request(t.url)
          .post(`${api}/conversations/${convo.body.id}/messages`)
          .set('Authorization', auth)
          .send({ content: 'hi' })
          .expect(201);
        expect((await got)[0]).toMatchObject({ content: 'hi', senderId: claims.sub });
        const presence = await request(t.url).get(`${api}/presence`).query({ userIds: 'auth0|bob' }).set('Authorization', auth).expect(200);
        expect(presence.body.presence).toEqual([expect.objectContaining({ userId: 'auth0|bob', status: 'online' })]);
      } finally {
        bob.close();
      }
      await expect401(t, await auth0.sign({ ...claims, org_id: undefined }), /"org_id"/);
      await expect401(t, await stranger.sign(claims)); // right kid, wrong key
      await expect401(t, await auth0.sign({ ...claims, aud: 'https://other.example.com' }));
      await expect401(t, await signHs(t.config.env.MOBILE_JWT_SECRET!, 'HS256', claims)); // algorithm confusion
    } finally {
      await t.close();
    }
  });

  it('Firebase Auth: RS256, the uid in user_id, the tenant in a custom claim, MEMBER by default', async () => {
    const project = 'tether-demo-1234';
    const t = await startTestApp({
      JWT_ALGORITHM: 'RS256',
      JWT_JWKS_URL: jwks.url('/firebase/jwk'),
      JWT_ISSUER: `https://securetoken.google.com/${project}`,
      JWT_AUDIENCE: project,
      JWT_USER_ID_CLAIM: 'user_id',
      JWT_TENANT_CLAIM: 'tenantId',
      JWT_DEFAULT_ROLES: 'MEMBER',
    });
    try {
      const uid = 'kY3bq0vL8dXJ2mN4pQ7rS9tU1wZ2';
      const claims = {
        iss: `https://securetoken.google.com/${project}`,
        aud: project,
        auth_time: now() - 30,
        user_id: uid,
        sub: uid,
        email: 'ana@example.com',
        firebase: { identities: { email: ['ana@example.com'] }, sign_in_provider: 'password' },
        tenantId: 'parish-9',
      };
      const token = await firebase.sign(claims, 3600);
      expect(await me(t, token)).toMatchObject({ userId: uid, tenantId: 'parish-9', roles: ['MEMBER'] });
      await expectSocketsAccept(t, token, { userId: uid, tenantId: 'parish-9' });
      const admin = await firebase.sign({ ...claims, roles: ['ADMIN'] }); // custom claims set with the Admin SDK
      expect((await me(t, admin)).roles).toEqual(['ADMIN']);
      await expect401(t, await firebase.sign({ ...claims, tenantId: undefined }), /"tenantId"/);
      await expect401(t, await auth0.sign(claims)); // another provider's key
    } finally {
      await t.close();
    }
  });

  it('Cognito: RS256, cognito:groups mapped to roles, a custom attribute as tenant, access tokens without aud', async () => {
    const iss = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI';
    const t = await startTestApp({
      JWT_ALGORITHM: 'RS256',
      JWT_JWKS_URL: jwks.url('/cognito/.well-known/jwks.json'),
      JWT_ISSUER: iss,
      JWT_ROLES_CLAIM: 'cognito:groups',
      JWT_ROLE_MAP: 'members:MEMBER,leaders:LEADER,admins:ADMIN+LEADER',
      JWT_TENANT_CLAIM: 'custom:tenant_id',
    });
    try {
      const sub = '1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901';
      const claims = {
        iss,
        sub,
        client_id: '4example1clientid',
        token_use: 'access',
        scope: 'aws.cognito.signin.user.admin',
        username: 'ana',
        'cognito:groups': ['admins', 'eu-west-1_AbCdEfGhI_Google'],
        'custom:tenant_id': 'club-42',
      };
      const token = await cognito.sign(claims);
      expect(await me(t, token)).toMatchObject({ userId: sub, tenantId: 'club-42', roles: ['ADMIN', 'LEADER'] });
      await expectSocketsAccept(t, token, { userId: sub, tenantId: 'club-42' });
      expect((await me(t, await cognito.sign({ ...claims, 'cognito:groups': undefined }))).roles).toEqual([]);
      await expect401(t, await cognito.sign({ ...claims, iss: 'https://cognito-idp.eu-west-1.amazonaws.com/other' }));
    } finally {
      await t.close();
    }
  });
});

describe('NextAuth (the church app): HS256 with NEXTAUTH_SECRET, 15-minute tokens', () => {
  const nextAuthSecret = randomBytes(32).toString('base64');
  let t: TestApp;
  beforeAll(async () => {
    // MOBILE_JWT_SECRET unset (an empty value is unset): the church app's documented fallback applies.
    t = await startTestApp({ MOBILE_JWT_SECRET: '', NEXTAUTH_SECRET: nextAuthSecret, JWT_MAX_TOKEN_LIFETIME_SEC: '900' });
  });
  afterAll(() => t.close());

  it('verifies with NEXTAUTH_SECRET, not the example secret', async () => {
    expect(t.config.jwt.secret).toBe(nextAuthSecret);
    expect(t.config.usesExampleJwtSecret).toBe(false);
    const token = await signHs(nextAuthSecret, 'HS256', { sub: 'member-1', tid: 'church-1', roles: ['MEMBER'] }, 900);
    expect(await me(t, token)).toMatchObject({ userId: 'member-1', tenantId: 'church-1', roles: ['MEMBER'] });
    await expectSocketsAccept(t, token, { userId: 'member-1', tenantId: 'church-1' });
    await expect401(t, await signHs('dev-only-secret-change-me-0123456789abcdef', 'HS256', { sub: 'm', tid: 'church-1' }));
  });

  it('refuses tokens that live longer than JWT_MAX_TOKEN_LIFETIME_SEC, or do not say when they were issued', async () => {
    const long = await signHs(nextAuthSecret, 'HS256', { sub: 'member-1', tid: 'church-1' }, 3600);
    await expect401(t, long, /longer than the accepted 900 seconds/);
    await expectSocketsRefuse(t, long);
    const noIat = await new SignJWT({ sub: 'member-1', tid: 'church-1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now() + 600)
      .sign(new TextEncoder().encode(nextAuthSecret));
    await expect401(t, noIat, /"iat"/);
  });
});

describe('ES256 and EdDSA', () => {
  it('ES256 from a PEM key; refuses ES384, RS256 and HS256 signed with the public key as a secret', async () => {
    const es = await issuer('ES256', 'es-1');
    const pem = await exportSPKI(es.publicKey);
    const t = await startTestApp({ JWT_ALGORITHM: 'ES256', JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n') });
    try {
      const token = await es.sign({ sub: 'u-es', tid: 't-es', roles: ['MEMBER'] });
      expect(await me(t, token)).toMatchObject({ userId: 'u-es', tenantId: 't-es', roles: ['MEMBER'] });
      await expectSocketsAccept(t, token, { userId: 'u-es', tenantId: 't-es' });
      await expect401(t, await (await issuer('ES384', 'es-1')).sign({ sub: 'u-es', tid: 't-es' }));
      await expect401(t, await (await issuer('RS256', 'es-1')).sign({ sub: 'u-es', tid: 't-es' }));
      await expect401(t, await signHs(pem, 'HS256', { sub: 'u-es', tid: 't-es', roles: ['ADMIN'] }));
      await expect401(t, await (await issuer('ES256', 'es-1')).sign({ sub: 'u-es', tid: 't-es' })); // another P-256 key
    } finally {
      await t.close();
    }
  });

  it('EdDSA (Ed25519) from a JWKS', async () => {
    const ed = await issuer('EdDSA', 'ed-1');
    const jwks = await serveJwks({ '/jwks': [ed] });
    const t = await startTestApp({ JWT_ALGORITHM: 'EdDSA', JWT_JWKS_URL: jwks.url('/jwks') });
    try {
      const token = await ed.sign({ sub: 'u-ed', tid: 't-ed', roles: ['LEADER'] });
      expect(await me(t, token)).toMatchObject({ userId: 'u-ed', tenantId: 't-ed', roles: ['LEADER'] });
      await expect401(t, await (await issuer('EdDSA', 'ed-1')).sign({ sub: 'u-ed', tid: 't-ed' }));
      await expect401(t, await (await issuer('ES256', 'ed-1')).sign({ sub: 'u-ed', tid: 't-ed' }));
    } finally {
      await t.close();
      await jwks.close();
    }
  });

  it('refuses to boot with a PEM key of another type than the pinned algorithm, naming the variable', async () => {
    const rsa = await issuer('RS256', 'x');
    const pem = (await exportSPKI(rsa.publicKey)).replace(/\n/g, '\\n');
    await expect(startTestApp({ JWT_ALGORITHM: 'ES256', JWT_PUBLIC_KEY: pem })).rejects.toThrow(/JWT_PUBLIC_KEY is invalid for ES256/);
  });
});
