import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { sleep } from '../tools/scratch';
import { startTestApp, TestApp } from './support/test-app';

const ME = '/api/mobile/v1/me';
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function hs256(secret: string, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(secret));
}

async function expect401(t: TestApp, authorization: string | undefined, code: string) {
  const req = request(t.url).get(ME);
  if (authorization !== undefined) req.set('Authorization', authorization);
  const res = await req.expect(401);
  expect(res.body).toMatchObject({
    statusCode: 401,
    error: 'Unauthorized',
    code,
    message: expect.any(String),
    requestId: expect.any(String),
  });
}

describe('auth with HS256 (MOBILE_JWT_SECRET)', () => {
  let t: TestApp;
  let secret: string;
  beforeAll(async () => {
    t = await startTestApp();
    secret = t.config.jwt.secret!;
  });
  afterAll(() => t.close());

  it('accepts a valid token and exposes {userId, tenantId, roles}', async () => {
    const token = await t.token({ sub: 'alice', tid: 'church-1', roles: ['MEMBER', 'LEADER', 'NOT_A_ROLE'] });
    const res = await request(t.url).get(ME).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body).toMatchObject({ userId: 'alice', tenantId: 'church-1', roles: ['MEMBER', 'LEADER'] });
  });

  it('rejects a missing token or a non-bearer header', async () => {
    await expect401(t, undefined, 'token_missing');
    await expect401(t, `Basic ${Buffer.from('a:b').toString('base64')}`, 'token_missing');
  });

  it('rejects garbage', async () => {
    await expect401(t, 'Bearer not.a.jwt', 'token_invalid');
    await expect401(t, 'Bearer abc', 'token_invalid');
  });

  it('rejects alg none', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'u1', tid: 't1', roles: ['ADMIN'], exp: now() + 600 })}.`;
    await expect401(t, `Bearer ${unsigned}`, 'token_invalid');
  });

  it('rejects an expired token', async () => {
    const token = await hs256(secret, { sub: 'u1', tid: 't1', exp: now() - 60 });
    await expect401(t, `Bearer ${token}`, 'token_expired');
  });

  it('stops accepting a token at its expiry even after it was verified (and remembered) before', async () => {
    const strict = await startTestApp({ JWT_CLOCK_TOLERANCE: '0' });
    try {
      const token = await hs256(strict.config.jwt.secret!, { sub: 'u1', tid: 't1', exp: now() + 2 });
      for (let i = 0; i < 3; i++) await request(strict.url).get(ME).set('Authorization', `Bearer ${token}`).expect(200);
      await sleep(2100);
      await expect401(strict, `Bearer ${token}`, 'token_expired');
    } finally {
      await strict.close();
    }
  });

  it('rejects a token that is not valid yet', async () => {
    const token = await hs256(secret, { sub: 'u1', tid: 't1', nbf: now() + 600, exp: now() + 1200 });
    await expect401(t, `Bearer ${token}`, 'token_not_yet_valid');
  });

  it('rejects a tampered payload', async () => {
    const [h, , s] = (await t.token({ roles: ['MEMBER'] })).split('.');
    const forged = `${h}.${b64({ sub: 'u1', tid: 't1', roles: ['ADMIN'], exp: now() + 600 })}.${s}`;
    await expect401(t, `Bearer ${forged}`, 'token_invalid');
  });

  it('rejects a token signed with another key', async () => {
    const token = await hs256('another-secret-that-is-long-enough-000000', { sub: 'u1', tid: 't1', exp: now() + 600 });
    await expect401(t, `Bearer ${token}`, 'token_invalid');
  });

  it('rejects an RS256 token when HS256 is configured (no algorithm confusion)', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub: 'u1', tid: 't1' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey);
    await expect401(t, `Bearer ${token}`, 'token_invalid');
  });

  it('rejects tokens without sub, tid or exp', async () => {
    await expect401(t, `Bearer ${await hs256(secret, { tid: 't1', exp: now() + 600 })}`, 'token_invalid');
    await expect401(t, `Bearer ${await hs256(secret, { sub: 'u1', exp: now() + 600 })}`, 'token_invalid');
    await expect401(t, `Bearer ${await hs256(secret, { sub: 'u1', tid: 't1' })}`, 'token_invalid');
    await expect401(t, `Bearer ${await hs256(secret, { sub: 'u1', tid: 'bad tenant!', exp: now() + 600 })}`, 'token_invalid');
  });
});

describe('auth with RS256', () => {
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwks: Server;
  let jwksUrl: string;
  const sign = (claims: Record<string, unknown>, kid = 'k1', key = keys.privateKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setExpirationTime('10m').sign(key);

  beforeAll(async () => {
    keys = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise((r) => jwks.close(r)));

  it('verifies against a PEM public key', async () => {
    const pem = (await exportSPKI(keys.publicKey)).replace(/\n/g, '\\n'); // as it sits in an env file
    const t = await startTestApp({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: pem });
    try {
      await request(t.url)
        .get(ME)
        .set('Authorization', `Bearer ${await sign({ sub: 'u9', tid: 't9' })}`)
        .expect(200);
      const hs = await hs256('x'.repeat(40), { sub: 'u9', tid: 't9', exp: now() + 60 });
      await expect401(t, `Bearer ${hs}`, 'token_invalid');
    } finally {
      await t.close();
    }
  });

  it('verifies against a JWKS URL with issuer and audience checks', async () => {
    const t = await startTestApp({
      JWT_ALGORITHM: 'RS256',
      JWT_JWKS_URL: jwksUrl,
      JWT_ISSUER: 'https://id.example.com',
      JWT_AUDIENCE: 'tether',
    });
    try {
      const good = await sign({ sub: 'u9', tid: 't9', iss: 'https://id.example.com', aud: 'tether' });
      const res = await request(t.url).get(ME).set('Authorization', `Bearer ${good}`).expect(200);
      expect(res.body.userId).toBe('u9');
      await expect401(t, `Bearer ${await sign({ sub: 'u9', tid: 't9', iss: 'https://evil.example.com', aud: 'tether' })}`, 'token_invalid');
      await expect401(t, `Bearer ${await sign({ sub: 'u9', tid: 't9', iss: 'https://id.example.com', aud: 'other' })}`, 'token_invalid');
      const stranger = await generateKeyPair('RS256');
      await expect401(
        t,
        `Bearer ${await sign({ sub: 'u9', tid: 't9', iss: 'https://id.example.com', aud: 'tether' }, 'k1', stranger.privateKey)}`,
        'token_invalid',
      );
    } finally {
      await t.close();
    }
  });

  it('refuses to boot with a malformed PEM key, naming the variable', async () => {
    await expect(startTestApp({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: 'not a pem' })).rejects.toThrow(/JWT_PUBLIC_KEY/);
  });
});
