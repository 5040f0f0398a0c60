import { AppConfig } from './app-config';
import { EXAMPLE_JWT_SECRET, InvalidEnvironmentError, parseEnv } from './env.schema';

const SECRET = 'a-production-secret-that-is-long-enough-123';
const expectInvalid = (env: Record<string, string>, pattern: RegExp) => {
  expect(() => parseEnv(env)).toThrow(InvalidEnvironmentError);
  expect(() => parseEnv(env)).toThrow(pattern);
};

describe('environment schema', () => {
  it('has working defaults for a development machine', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 3000, NODE_ENV: 'development', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tether' });
    expect(env.MOBILE_JWT_SECRET).toBe(EXAMPLE_JWT_SECRET);
  });

  it('treats empty strings as unset', () => {
    expect(parseEnv({ PORT: '', REDIS_URL: '' }).PORT).toBe(3000);
  });

  it('names the variable and the problem, one clause per variable', () => {
    try {
      parseEnv({ PORT: 'eighty', DATABASE_URL: 'mysql://x', MOBILE_JWT_SECRET: 'short' });
      throw new Error('should have failed');
    } catch (err) {
      const message = (err as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toMatch(/PORT must be a number/);
      expect(message).toMatch(/DATABASE_URL must be a URL \(postgres: or postgresql:\)/);
      expect(message).toMatch(/MOBILE_JWT_SECRET must be at least 32 characters/);
    }
  });

  it('requires a secret in production and refuses the example one', () => {
    expectInvalid({ NODE_ENV: 'production' }, /MOBILE_JWT_SECRET is required/);
    expectInvalid({ NODE_ENV: 'production', MOBILE_JWT_SECRET: EXAMPLE_JWT_SECRET }, /example secret/);
    expect(parseEnv({ NODE_ENV: 'production', MOBILE_JWT_SECRET: SECRET }).MOBILE_JWT_SECRET).toBe(SECRET);
  });

  it('needs a public key or JWKS URL for RS256', () => {
    expectInvalid({ JWT_ALGORITHM: 'RS256' }, /JWT_PUBLIC_KEY or JWT_JWKS_URL is required/);
    expect(parseEnv({ JWT_ALGORITHM: 'RS256', JWT_JWKS_URL: 'https://id.example.com/jwks' }).JWT_ALGORITHM).toBe('RS256');
  });

  it('falls back to NEXTAUTH_SECRET for the HS key, in production too, still refusing the example secret', () => {
    const prod = new AppConfig(parseEnv({ NODE_ENV: 'production', NEXTAUTH_SECRET: SECRET }));
    expect(prod.jwt.secret).toBe(SECRET);
    expect(prod.usesExampleJwtSecret).toBe(false);
    expect(new AppConfig(parseEnv({ NEXTAUTH_SECRET: SECRET })).jwt.secret).toBe(SECRET); // not the example in development
    expect(new AppConfig(parseEnv({ MOBILE_JWT_SECRET: SECRET, NEXTAUTH_SECRET: 'short' })).jwt.secret).toBe(SECRET);
    expectInvalid({ NODE_ENV: 'production', NEXTAUTH_SECRET: EXAMPLE_JWT_SECRET }, /NEXTAUTH_SECRET is the example secret/);
    expectInvalid({ NEXTAUTH_SECRET: 'short' }, /NEXTAUTH_SECRET must be at least 32 characters/);
    expectInvalid({ NODE_ENV: 'production', JWT_ALGORITHM: 'HS512' }, /MOBILE_JWT_SECRET is required \(or NEXTAUTH_SECRET\)/);
  });

  it('accepts every safe algorithm, a key source for the asymmetric ones, and nothing else', () => {
    for (const alg of ['HS384', 'HS512']) expect(parseEnv({ JWT_ALGORITHM: alg }).JWT_ALGORITHM).toBe(alg);
    for (const alg of ['RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']) {
      expectInvalid({ JWT_ALGORITHM: alg }, /JWT_PUBLIC_KEY or JWT_JWKS_URL is required/);
      expect(parseEnv({ JWT_ALGORITHM: alg, JWT_JWKS_URL: 'https://id.example.com/jwks' }).JWT_ALGORITHM).toBe(alg);
    }
    for (const alg of ['none', 'RSA1_5', 'hs256', 'ES256K']) expectInvalid({ JWT_ALGORITHM: alg }, /JWT_ALGORITHM/);
  });

  it('parses the claim mapping settings', () => {
    const jwt = new AppConfig(
      parseEnv({
        JWT_TENANT_CLAIM: 'app_metadata.tenant_id',
        JWT_DEFAULT_TENANT: 'main',
        JWT_ROLES_CLAIM: 'role, cognito:groups ,https://tether.example.com/roles',
        JWT_ROLE_MAP: 'authenticated:MEMBER, service_role:SERVICE,cognito:admins:ADMIN+LEADER',
        JWT_DEFAULT_ROLES: 'MEMBER',
        JWT_AUDIENCE: 'a,b',
        JWT_MAX_TOKEN_LIFETIME_SEC: '900',
      }),
    ).jwt;
    expect(jwt.claims).toMatchObject({ userId: 'sub', tenant: 'app_metadata.tenant_id', defaultTenant: 'main', defaultRoles: ['MEMBER'] });
    expect(jwt.claims.roles).toEqual(['role', 'cognito:groups', 'https://tether.example.com/roles']);
    expect([...jwt.claims.roleMap]).toEqual([
      ['authenticated', ['MEMBER']],
      ['service_role', ['SERVICE']],
      ['cognito:admins', ['ADMIN', 'LEADER']],
    ]);
    expect(jwt.audience).toEqual(['a', 'b']);
    expect(jwt.maxLifetimeSec).toBe(900);
    expectInvalid({ JWT_ROLE_MAP: 'authenticated:OWNER' }, /JWT_ROLE_MAP must look like/);
    expectInvalid({ JWT_ROLE_MAP: 'authenticated' }, /JWT_ROLE_MAP/);
    expectInvalid({ JWT_DEFAULT_TENANT: 'bad tenant!' }, /JWT_DEFAULT_TENANT/);
    expectInvalid({ JWT_TENANT_CLAIM: 'two words' }, /JWT_TENANT_CLAIM must be a claim name/);
    expectInvalid({ JWT_DEFAULT_ROLES: 'OWNER' }, /JWT_DEFAULT_ROLES/);
    expectInvalid({ JWT_MAX_TOKEN_LIFETIME_SEC: '0' }, /JWT_MAX_TOKEN_LIFETIME_SEC/);
  });

  it('accepts KV_URL and validates Redis URLs and the key prefix', () => {
    expect(parseEnv({ KV_URL: 'rediss://u:p@host:6380' }).KV_URL).toBe('rediss://u:p@host:6380');
    expectInvalid({ REDIS_URL: 'http://localhost' }, /REDIS_URL must be a URL/);
    expectInvalid({ REDIS_KEY_PREFIX: 'has space' }, /REDIS_KEY_PREFIX/);
  });

  it('wants the three Firebase variables together', () => {
    expectInvalid({ FIREBASE_PROJECT_ID: 'p' }, /go together/);
    expectInvalid({ FIREBASE_PROJECT_ID: 'p', FIREBASE_CLIENT_EMAIL: 'not-an-email', FIREBASE_PRIVATE_KEY: 'k' }, /FIREBASE_CLIENT_EMAIL/);
  });

  it('parses booleans and enums strictly', () => {
    expect(parseEnv({ DB_AUTO_MIGRATE: 'false' }).DB_AUTO_MIGRATE).toBe(false);
    expectInvalid({ DB_AUTO_MIGRATE: 'maybe' }, /DB_AUTO_MIGRATE/);
    expectInvalid({ TETHER_ROLE: 'both' }, /TETHER_ROLE/);
  });
});

describe('host channels', () => {
  const hostChannels = (env: Record<string, string>) => new AppConfig(parseEnv(env)).hostChannels.prefixes;

  it('defaults to activity, booking and venue by token, and by proxy too once a proxy URL is set', () => {
    expect(hostChannels({})).toEqual(['activity', 'booking', 'venue'].map((prefix) => ({ prefix, modes: ['token'] })));
    expect(hostChannels({ SUBSCRIBE_PROXY_URL: 'http://backend/sub' })[0]).toEqual({ prefix: 'activity', modes: ['token', 'proxy'] });
  });

  it('reads prefix:modes lists, bare prefixes and none', () => {
    expect(
      hostChannels({ HOST_CHANNELS: 'activity:token, booking:proxy,venue:token+proxy,ride', SUBSCRIBE_PROXY_URL: 'https://b/s' }),
    ).toEqual([
      { prefix: 'activity', modes: ['token'] },
      { prefix: 'booking', modes: ['proxy'] },
      { prefix: 'venue', modes: ['token', 'proxy'] },
      { prefix: 'ride', modes: ['token', 'proxy'] },
    ]);
    expect(hostChannels({ HOST_CHANNELS: 'none' })).toEqual([]);
  });

  it('reads the public mode, alone, and AUTO_JOIN_CHANNELS (issue 13)', () => {
    expect(hostChannels({ HOST_CHANNELS: 'venue, venue_updates:public,promotions:public' })).toEqual([
      { prefix: 'venue', modes: ['token'] },
      { prefix: 'venue_updates', modes: ['public'] },
      { prefix: 'promotions', modes: ['public'] },
    ]);
    expect(new AppConfig(parseEnv({ AUTO_JOIN_CHANNELS: 'activity, venue_updates,activity' })).hostChannels.autoJoin).toEqual([
      'activity',
      'venue_updates',
    ]);
    expect(new AppConfig(parseEnv({})).hostChannels.autoJoin).toEqual([]);
    expectInvalid({ HOST_CHANNELS: 'promotions:public+token' }, /HOST_CHANNELS must look like/);
    expectInvalid({ HOST_CHANNELS: 'venue:token,venue:public' }, /HOST_CHANNELS must not name the prefix "venue" twice/);
    expectInvalid({ AUTO_JOIN_CHANNELS: 'activity feed' }, /AUTO_JOIN_CHANNELS must be channel names/);
    expectInvalid({ AUTO_JOIN_CHANNELS: 'activity,' }, /AUTO_JOIN_CHANNELS must be channel names/);
  });

  it('refuses malformed lists and the proxy mode without a proxy URL', () => {
    expectInvalid({ HOST_CHANNELS: 'activity:maybe' }, /HOST_CHANNELS must look like/);
    expectInvalid({ HOST_CHANNELS: 'Activity' }, /HOST_CHANNELS must look like/);
    expectInvalid({ HOST_CHANNELS: 'booking:proxy' }, /HOST_CHANNELS must not name the proxy mode without SUBSCRIBE_PROXY_URL/);
    expectInvalid({ CHANNEL_TOKEN_SECRET: 'short' }, /CHANNEL_TOKEN_SECRET must be at least 32 characters/);
    expectInvalid({ SUBSCRIBE_PROXY_TIMEOUT_MS: '0' }, /SUBSCRIBE_PROXY_TIMEOUT_MS must be at least 50/);
  });
});

describe('client-event proxy and typing ids (issue 13)', () => {
  const proxy = (env: Record<string, string>) => new AppConfig(parseEnv(env)).clientEventProxy;

  it('proxies nothing without a URL, every event by default with one, and reads name patterns', () => {
    expect(proxy({}).events).toEqual([]);
    const all = proxy({ CLIENT_EVENT_PROXY_URL: 'https://b/e' });
    expect(all.events.some((p) => p.test('anything:at_all'))).toBe(true);
    const some = proxy({ CLIENT_EVENT_PROXY_URL: 'https://b/e', CLIENT_EVENT_PROXY_EVENTS: 'message:send, booking:*,a.b' });
    const matches = (name: string) => some.events.some((p) => p.test(name));
    expect(['message:send', 'booking:request', 'booking:', 'a.b'].every(matches)).toBe(true);
    expect(['message:sent', 'xbooking:request', 'message:send:x', 'axb'].some(matches)).toBe(false);
    expect(proxy({ CLIENT_EVENT_PROXY_URL: 'https://b/e', SUBSCRIBE_PROXY_SECRET: 's' })).toMatchObject({ secret: 's', timeoutMs: 3000 });
  });

  it('refuses patterns without a URL and malformed settings', () => {
    expectInvalid(
      { CLIENT_EVENT_PROXY_EVENTS: 'message:send' },
      /CLIENT_EVENT_PROXY_EVENTS must not be set without CLIENT_EVENT_PROXY_URL/,
    );
    expectInvalid(
      { CLIENT_EVENT_PROXY_URL: 'https://b/e', CLIENT_EVENT_PROXY_EVENTS: 'a b' },
      /CLIENT_EVENT_PROXY_EVENTS must be event names/,
    );
    expectInvalid({ CLIENT_EVENT_PROXY_URL: 'ftp://b/e' }, /CLIENT_EVENT_PROXY_URL must be a URL/);
    expectInvalid({ CLIENT_EVENT_PROXY_TIMEOUT_MS: '10' }, /CLIENT_EVENT_PROXY_TIMEOUT_MS must be at least 50/);
    expectInvalid({ TYPING_CHAT_PREFIXES: 'Conversation' }, /TYPING_CHAT_PREFIXES must be channel prefixes/);
    expect(new AppConfig(parseEnv({})).typingChatPrefixes).toEqual(['conversation', 'activity']);
    expect(new AppConfig(parseEnv({ TYPING_CHAT_PREFIXES: 'booking, activity' })).typingChatPrefixes).toEqual(['booking', 'activity']);
  });
});

describe('demo page (issue 14)', () => {
  const demo = (env: Record<string, string>) => new AppConfig(parseEnv({ MOBILE_JWT_SECRET: 'x'.repeat(32), ...env })).demo;

  it('is on outside production, with its token route; off in production unless enabled, and never with the token route', () => {
    expect(demo({})).toEqual({ enabled: true, tokenRoute: true, tokenTtlSec: 600 });
    expect(demo({ DEMO_ENABLED: 'false' })).toMatchObject({ enabled: false, tokenRoute: false });
    expect(demo({ NODE_ENV: 'production' })).toMatchObject({ enabled: false, tokenRoute: false });
    expect(demo({ NODE_ENV: 'production', DEMO_ENABLED: 'true' })).toMatchObject({ enabled: true, tokenRoute: false });
  });

  it('mints only with an HMAC secret, and never longer than JWT_MAX_TOKEN_LIFETIME_SEC', () => {
    expect(demo({ JWT_ALGORITHM: 'RS256', JWT_JWKS_URL: 'https://idp.example.com/jwks' })).toMatchObject({
      enabled: true,
      tokenRoute: false,
    });
    expect(demo({ DEMO_TOKEN_TTL_SEC: '900', JWT_MAX_TOKEN_LIFETIME_SEC: '300' }).tokenTtlSec).toBe(300);
    expect(() => parseEnv({ DEMO_TOKEN_TTL_SEC: '10' })).toThrow('DEMO_TOKEN_TTL_SEC must be at least 60');
  });
});

describe('.env.example', () => {
  const { readFileSync } = jest.requireActual<typeof import('node:fs')>('node:fs');
  const { join } = jest.requireActual<typeof import('node:path')>('node:path');
  const text = readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8');
  const mentioned = new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));

  it('mentions every variable the schema declares, and nothing else', async () => {
    const { envSchema } = await import('./env.schema');
    const declared = Object.keys(envSchema.shape ?? {});
    expect([...mentioned].sort()).toEqual(declared.sort());
  });

  it('parses as a valid development environment', () => {
    const values = Object.fromEntries([...text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    expect(() => parseEnv(values)).not.toThrow();
  });
});
