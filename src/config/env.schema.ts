import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The example secret shipped in .env.example: fine for a laptop, refused in production. */
export const EXAMPLE_JWT_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

/**
 * `none`, or `prefix[:mode[+mode]]` items, comma separated; modes are `token` and `proxy`, or
 * `public` alone.
 */
const HOST_CHANNEL_ITEM = '[a-z][a-z0-9_-]{0,31}(:(public|(token|proxy)(\\+(token|proxy))?))?';
const HOST_CHANNELS_PATTERN = new RegExp(`^(none|${HOST_CHANNEL_ITEM}(\\s*,\\s*${HOST_CHANNEL_ITEM})*)$`);
/** Channel names, comma separated (the form clients use: `activity`, `venue_updates`, `service:counts`). */
const CHANNEL_NAME = '[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.@|-]{1,128})?';
/** Client event name patterns, comma separated; `*` matches any run of characters (`booking:*`, `message:received`). */
const EVENT_PATTERN = '[A-Za-z0-9_.:*-]{1,64}';
const EVENT_PATTERN_LIST = new RegExp(`^${EVENT_PATTERN}(\\s*,\\s*${EVENT_PATTERN})*$`);
/** Channel prefixes, comma separated. */
const PREFIX_LIST = /^[a-z][a-z0-9_-]{0,31}(\s*,\s*[a-z][a-z0-9_-]{0,31})*$/;
const CHANNEL_LIST_PATTERN = new RegExp(`^(${CHANNEL_NAME}(\\s*,\\s*${CHANNEL_NAME})*)?$`);

/** Every algorithm jose verifies that is safe for access tokens (no `none`, no RSA1_5 encryption). */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** A tenant id as tokens, rows and Redis keys carry it. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const ROLE = '(MEMBER|LEADER|ADMIN|SERVICE)';
const ROLE_MAP_ITEM = `[^,\\s]{1,128}:${ROLE}(\\+${ROLE})*`;
const ROLE_MAP_PATTERN = new RegExp(`^${ROLE_MAP_ITEM}(\\s*,\\s*${ROLE_MAP_ITEM})*$`);
const roleList = z
  .string()
  .regex(new RegExp(`^(none|${ROLE}(\\s*,\\s*${ROLE})*)$`), 'a comma-separated list of MEMBER, LEADER, ADMIN, SERVICE (or "none")');
const claimPath = z.string().regex(/^[^\s,]{1,200}$/, 'must be a claim name or a dotted path (no spaces or commas)');

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

/** `host:port,host:port` -> [{host, port}] (Redis Cluster seeds, sentinels). */
const hostList = z
  .string()
  .regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'must be host:port, comma-separated')
  .transform((v) =>
    v.split(',').map((item) => {
      const [host, port] = item.trim().split(':');
      return { host, port: Number(port) };
    }),
  );

/**
 * Every environment variable Tether reads, declared once. Anything not listed here is ignored.
 * Defaults work on a machine with PostgreSQL and Redis on 127.0.0.1.
 */
export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: int(0, 65535).default(3000),
    /** Which parts this process runs: the HTTP/socket API, the BullMQ workers, or both. */
    TETHER_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `pretty` (colored lines, for a developer's terminal) or `json` (one object per line). Defaults to pretty in development. */
    LOG_FORMAT: z.enum(['pretty', 'json']).optional(),

    DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/tether'),
    /** Create the database if missing and apply pending migrations at boot. Defaults to on outside production. */
    DB_AUTO_MIGRATE: bool.optional(),
    DB_POOL_SIZE: int(1, 200).default(10),
    /** A request waits at most this long for a PostgreSQL connection (new, or free in the pool), then gets 503 database_unavailable. */
    DB_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5000),
    /** Row-level security: `on` (tenant work as role tether_app, named system tasks as the login role); `off` only in an emergency (every query as the login role). */
    DB_ROW_LEVEL_SECURITY: z.enum(['on', 'off']).default('on'),
    /** Login of tenant work (tether_app, or a role that is a member of it and nothing more); unset: SET ROLE tether_app on DATABASE_URL's connections. */
    DB_APP_USER: z.string().min(1).max(63).optional(),
    DB_APP_PASSWORD: z.string().optional(),

    /** Compress JSON responses of 1 KB and more (br or gzip, as the client accepts). */
    HTTP_COMPRESSION: bool.default(true),

    REDIS_URL: url(['redis:', 'rediss:']).optional(),
    /** The church app's name for a hosted Redis; used when REDIS_URL is not set. */
    KV_URL: url(['redis:', 'rediss:']).optional(),
    /**
     * How Redis is deployed: one server (`standalone`, REDIS_URL), a Redis Cluster (`cluster`, seed
     * nodes in REDIS_CLUSTER_NODES), or a primary with replicas behind Sentinel (`sentinel`,
     * REDIS_SENTINELS and REDIS_SENTINEL_MASTER). REDIS_URL's user, password and `rediss:` (TLS)
     * apply to the data nodes in every topology.
     */
    REDIS_TOPOLOGY: z.enum(['standalone', 'cluster', 'sentinel']).default('standalone'),
    /** Cluster seed nodes, `host:port,host:port` (any few masters or replicas; the rest are discovered). Default: REDIS_URL's host. */
    REDIS_CLUSTER_NODES: hostList.optional(),
    /** Sentinels, `host:port,host:port`. */
    REDIS_SENTINELS: hostList.optional(),
    /** The name the sentinels know the primary by. */
    REDIS_SENTINEL_MASTER: z.string().min(1).max(128).default('mymaster'),
    /** The sentinels' own password, when they have one (`requirepass` in sentinel.conf). */
    REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    /** Prefix of every Redis key, queue and pub/sub channel this deployment uses. */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - only, at most 64')
      .default('tether'),
    /**
     * A Redis command on a request path (not BullMQ workers, not pub/sub subscriptions) fails after
     * this long without an answer; the request then gets 503 redis_unavailable.
     */
    REDIS_COMMAND_TIMEOUT_MS: int(100, 60_000).default(2000),
    /** Readiness also fails while Redis is unreachable (off: PostgreSQL-only routes keep their traffic; see README). */
    HEALTH_READY_REQUIRES_REDIS: bool.default(false),

    /** HS* key (at least 32 characters): the app's own secret, e.g. Supabase's JWT secret. */
    MOBILE_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** The church app's name for the same key: used when MOBILE_JWT_SECRET is not set. */
    NEXTAUTH_SECRET: z.string().optional(),
    /** The one algorithm tokens must be signed with (pinned: a token naming another is refused). */
    JWT_ALGORITHM: z.enum(JWT_ALGORITHMS).default('HS256'),
    /** Asymmetric algorithms: a PEM public key (SPKI) or X.509 certificate, with literal \n escapes allowed. */
    JWT_PUBLIC_KEY: z.string().optional(),
    /** Asymmetric algorithms: a JWKS endpoint of the identity provider. */
    JWT_JWKS_URL: url(['https:', 'http:']).optional(),
    JWT_ISSUER: z.string().min(1).optional(),
    /** One audience, or several separated by commas (any one matches). */
    JWT_AUDIENCE: z.string().min(1).optional(),
    /** Seconds of clock skew tolerated on exp/nbf. */
    JWT_CLOCK_TOLERANCE: int(0, 300).default(5),
    /** Refuse tokens whose `exp - iat` exceeds this many seconds (and tokens without `iat`). Unset: no limit. */
    JWT_MAX_TOKEN_LIFETIME_SEC: int(1, 10 * 365 * 24 * 3600).optional(),
    /** Where the user id is: a claim name or a dotted path. */
    JWT_USER_ID_CLAIM: claimPath.default('sub'),
    /** Where the tenant id is: a claim name (`tenantId`, `org_id`) or a dotted path (`app_metadata.tenant_id`). */
    JWT_TENANT_CLAIM: claimPath.default('tid'),
    /** The tenant of tokens that carry none (single-tenant apps). Unset: such tokens are refused. */
    JWT_DEFAULT_TENANT: z.string().regex(TENANT_ID_PATTERN, 'letters, digits and _ . - only, at most 64').optional(),
    /** Where the roles are: claim names or dotted paths, comma separated; every one found counts. */
    JWT_ROLES_CLAIM: z
      .string()
      .regex(/^[^\s,]{1,200}(\s*,\s*[^\s,]{1,200}){0,9}$/, 'must be one to ten claim names or dotted paths, comma separated')
      .default('roles'),
    /** The provider's role names -> Tether roles: `authenticated:MEMBER,service_role:SERVICE,admins:ADMIN+LEADER`. */
    JWT_ROLE_MAP: z
      .string()
      .regex(
        ROLE_MAP_PATTERN,
        'must look like "authenticated:MEMBER,service_role:SERVICE" (roles MEMBER, LEADER, ADMIN, SERVICE joined by +)',
      )
      .optional(),
    /** Roles of a token whose claims name none that map (e.g. Firebase tokens without custom claims); `none` for none. */
    JWT_DEFAULT_ROLES: roleList.default('none'),
    /** Where the user's display name is (message pushes name the sender by it); `none` to read none. */
    JWT_NAME_CLAIM: claimPath.default('name'),

    /** Comma-separated origins allowed by CORS; `*` allows any. */
    FRONTEND_URL: z.string().default('*'),
    BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)$/i, 'a size such as 100kb or 1mb')
      .default('1mb'),
    /** Global HTTP rate limit per client per minute (routes set tighter ones). */
    RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(600),
    /** Roles the global limit does not apply to (backends calling the server API); `none` for none. */
    RATE_LIMIT_EXEMPT_ROLES: z
      .string()
      .regex(
        /^(none|(MEMBER|LEADER|ADMIN|SERVICE)(\s*,\s*(MEMBER|LEADER|ADMIN|SERVICE))*)$/,
        'a comma-separated list of MEMBER, LEADER, ADMIN, SERVICE (or "none")',
      )
      .default('SERVICE'),
    SHUTDOWN_GRACE_MS: int(0, 120_000).default(10_000),

    /** Socket.IO Redis adapter: `sharded` (Redis >= 7, SSUBSCRIBE per room) or `classic` (every pod gets every broadcast). */
    REALTIME_ADAPTER: z.enum(['sharded', 'classic']).default('sharded'),
    /** With `sharded`: refuse to start when Redis lacks sharded pub/sub (instead of falling back to `classic` with a warning). */
    REALTIME_ADAPTER_STRICT: bool.default(false),
    /** Per-channel event log (Redis Streams) for missed-event recovery and HTTP polling. */
    REALTIME_LOG_MAX_LENGTH: int(10, 1_000_000).default(1000),
    REALTIME_LOG_MAX_AGE_SEC: int(10, 7 * 24 * 3600).default(6 * 3600),
    /**
     * The log of a `presence:<user>` channel lasts this long after its last change. Presence is
     * state, not history: a follower back after longer is told `recovered: false` and reads the
     * state again, and an idle user's Redis footprint is a few hundred bytes, not a stream's 5 KB.
     */
    REALTIME_PRESENCE_LOG_MAX_AGE_SEC: int(1, 7 * 24 * 3600).default(120),
    REALTIME_MAX_CHANNELS_PER_SOCKET: int(1, 10_000).default(100),
    /** Client events per second per socket (token bucket, burst of twice this). */
    REALTIME_EVENTS_PER_SECOND: int(1, 10_000).default(20),
    /**
     * Handshakes per minute from one address, counted after the token is verified. One address is
     * often a crowd (a venue's Wi-Fi, an office, a carrier's NAT: everyone arriving at once), so this
     * only stops a flood; the per-user limit is the guard against one client hammering reconnects.
     */
    REALTIME_CONNECTS_PER_MINUTE_PER_IP: int(1, 1_000_000).default(30_000),
    REALTIME_CONNECTS_PER_MINUTE_PER_USER: int(1, 1_000_000).default(60),
    /** A socket whose unsent buffer exceeds this is disconnected (it reconnects). */
    REALTIME_MAX_BUFFERED_BYTES: int(1024, 1 << 30).default(1 << 20),
    /** Largest client message accepted. */
    REALTIME_MAX_MESSAGE_BYTES: int(1024, 16 << 20).default(64 * 1024),
    /** A user is announced offline only after staying offline this long (mobile networks flap). */
    REALTIME_PRESENCE_OFFLINE_DELAY_MS: int(0, 600_000).default(5000),
    /** Users one socket may follow with `presence:follow` (its presence updates without a channel each). */
    REALTIME_MAX_PRESENCE_FOLLOWS: int(1, 100_000).default(1000),
    /**
     * Channels with presence (Pusher's presence channels) besides conversations: prefixes with
     * their colon (`activity:`) or exact names (`venue_updates`), comma separated; `none` for none.
     */
    REALTIME_PRESENCE_CHANNELS: z
      .string()
      .regex(
        /^(none|[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.@-]{0,128})?(\s*,\s*[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.@-]{0,128})?)*)$/,
        'must be `none` or channel prefixes (`activity:`) or channel names, comma separated',
      )
      .default('none'),
    /** Members listed in a presence channel's subscribe ack (its `count` says how many there are). */
    REALTIME_CHANNEL_PRESENCE_MAX_MEMBERS: int(1, 10_000).default(100),
    /** A pod that has not refreshed its heartbeat for this long is dead; its users go offline. */
    REALTIME_POD_TIMEOUT_MS: int(3000, 600_000).default(20_000),
    /** After a socket's token expires, how long it has to send auth:refresh before it is closed. */
    REALTIME_TOKEN_GRACE_MS: int(0, 600_000).default(25_000),
    /** On SIGTERM, local sockets are closed in jittered batches spread over this long. */
    REALTIME_DRAIN_MS: int(0, 120_000).default(5000),

    /**
     * Channel prefixes the host app authorizes, and how: `prefix:token+proxy,...` (`token` = a
     * subscription JWT signed by the host backend, `proxy` = ask SUBSCRIBE_PROXY_URL, `public` =
     * any member of the tenant, with or without an id: `venue_updates`, `promotions:<id>`). A
     * prefix without modes gets the default ones; `none` turns host channels off. See host-channels.ts.
     */
    HOST_CHANNELS: z
      .string()
      .regex(HOST_CHANNELS_PATTERN, 'must look like "activity:token,booking:proxy,venue:token+proxy,venue_updates:public" (or "none")')
      .optional(),
    /**
     * Channels every socket is in from connect, without subscribing (the activities app listens for
     * `activity:created` without joining anything). A name without an id that no policy owns
     * becomes public (any member of the tenant); others must pass their channel's policy.
     */
    AUTO_JOIN_CHANNELS: z
      .string()
      .regex(CHANNEL_LIST_PATTERN, 'must be channel names, comma separated, e.g. "activity,venue_updates"')
      .default(''),
    /** HS256 key of subscription tokens; unset: the access-token keys (MOBILE_JWT_SECRET or the RS256 key). */
    CHANNEL_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** The host backend's endpoint Tether asks `POST {userId, tenantId, channel}` before a proxy-mode subscribe. */
    SUBSCRIBE_PROXY_URL: url(['https:', 'http:']).optional(),
    /** Sent to the proxy as `Authorization: Bearer <secret>`. */
    SUBSCRIBE_PROXY_SECRET: z.string().min(1).optional(),
    /** A proxy slower than this denies (`proxy_unavailable`). */
    SUBSCRIBE_PROXY_TIMEOUT_MS: int(50, 30_000).default(1500),
    /** How long a proxy answer (allow or deny) is reused per tenant, user and channel; 0 asks every time. */
    SUBSCRIBE_PROXY_CACHE_MS: int(0, 3_600_000).default(30_000),
    /**
     * The host backend's endpoint for client events Tether does not handle (Centrifugo's RPC
     * proxy): `POST {event, data, userId, tenantId, socketId}` with SUBSCRIBE_PROXY_SECRET; its
     * `{result}` or `{error: {code, message}}` is the acknowledgement. Unset: no proxy.
     */
    CLIENT_EVENT_PROXY_URL: url(['https:', 'http:']).optional(),
    /** Which client events go to the proxy: name patterns, `*` any run of characters. Default `*` (all Tether does not handle). */
    CLIENT_EVENT_PROXY_EVENTS: z
      .string()
      .regex(EVENT_PATTERN_LIST, 'must be event names or patterns, comma separated, e.g. "message:send,booking:*"')
      .optional(),
    /** A proxy slower than this answers the client `proxy_unavailable`. */
    CLIENT_EVENT_PROXY_TIMEOUT_MS: int(50, 30_000).default(3000),
    /**
     * Where typing with `{chatId}` or `{conversationId}` goes: the first `<prefix>:<id>` among these
     * prefixes that the socket is subscribed to (`conversation:<id>`, then the activities app's `activity:<id>`).
     */
    TYPING_CHAT_PREFIXES: z
      .string()
      .regex(PREFIX_LIST, 'must be channel prefixes, comma separated, e.g. "conversation,activity"')
      .default('conversation,activity'),

    /** Offline sync: tombstones, the idempotency ledger and `updatedAfter` resume marks are kept this long. */
    SYNC_RETENTION_DAYS: int(1, 3650).default(30),
    /** How often a worker purges what is older than the retention (pods take turns through an advisory lock). */
    SYNC_PURGE_INTERVAL_MIN: int(1, 10_080).default(60),
    /** The church app's limits per user: sync pulls (all GET /sync/* together) and bulk mutations (both bulk routes). */
    SYNC_READS_PER_MINUTE: int(1, 1_000_000).default(30),
    SYNC_BULK_PER_MINUTE: int(1, 1_000_000).default(10),

    /** Idempotency-Key: how long a first response is kept and replayed for the same key (seconds; default 24 h). */
    IDEMPOTENCY_TTL_SEC: int(1, 30 * 24 * 3600).default(24 * 3600),
    /** A duplicate of a request still running waits this long for its answer, then gets 409 idempotency_key_in_progress. */
    IDEMPOTENCY_WAIT_MS: int(0, 60_000).default(10_000),
    /** Minutes between deletions of expired keys (in PostgreSQL, by API processes taking turns). */
    IDEMPOTENCY_CLEANUP_INTERVAL_MIN: int(1, 1440).default(60),

    /**
     * Transactional outbox: events and jobs recorded with the change that causes them, published
     * right after the commit by the same process, else by the relay on worker processes: rows older
     * than RELAY_DELAY, looked for every RELAY_INTERVAL, RELAY_BATCH at a time.
     */
    OUTBOX_RELAY_DELAY_MS: int(0, 600_000).default(1000),
    OUTBOX_RELAY_INTERVAL_MS: int(50, 600_000).default(500),
    OUTBOX_RELAY_BATCH: int(1, 10_000).default(200),
    /** A publish after the commit that takes longer than this is left to the relay (the request answers). */
    OUTBOX_PUBLISH_TIMEOUT_MS: int(50, 60_000).default(1000),
    /** A notification still `pending` this long after its creation has its fan-out job enqueued again (its job was lost). */
    NOTIFICATIONS_SWEEP_AFTER_MS: int(1000, 24 * 3600 * 1000).default(60_000),

    /** The demo page at /demo (and its development-only token route). Defaults to on outside production. */
    DEMO_ENABLED: bool.optional(),
    /** Lifetime of the access tokens the development-only `POST /demo/token` mints (short, so the SDK's refresh shows). */
    DEMO_TOKEN_TTL_SEC: int(60, 24 * 3600).default(600),

    FIREBASE_PROJECT_ID: z.string().min(1).optional(),
    FIREBASE_CLIENT_EMAIL: z.string().email().optional(),
    FIREBASE_PRIVATE_KEY: z.string().min(1).optional(),
    GOOGLE_APPLICATION_CREDENTIALS: z.string().min(1).optional(),

    /** Expo push: an access token, required only when "enhanced push security" is on in the Expo project. */
    EXPO_ACCESS_TOKEN: z.string().min(1).optional(),
    /** Where Expo's push API lives (https://exp.host); another base URL for a proxy or a test double. */
    EXPO_PUSH_URL: url(['https:', 'http:']).optional(),
    /** How long after a send Expo's receipts are fetched (Expo: ready within ~15 minutes). */
    EXPO_RECEIPT_DELAY_MS: int(0, 24 * 3600 * 1000).default(15 * 60 * 1000),

    /** Devices not seen for this many days are deleted by the maintenance job. */
    DEVICE_STALE_DAYS: int(1, 3650).default(60),
    /** Delivery jobs (up to 500 devices each) one process works on at once. */
    PUSH_CONCURRENCY: int(1, 500).default(16),
    /** Optional ceiling on delivery jobs started per second across all workers (a BullMQ limiter). */
    PUSH_MAX_JOBS_PER_SECOND: int(1, 100_000).optional(),
    /** Attempts per delivery job for transient FCM errors, and the first backoff delay. */
    PUSH_RETRY_ATTEMPTS: int(1, 50).default(8),
    PUSH_RETRY_BASE_MS: int(1, 600_000).default(1000),
    /** How long a push worker holds a job before another may take it over (stalled-job recovery). */
    PUSH_LOCK_MS: int(500, 600_000).default(30_000),
    /**
     * Message pushes: `text` the sender's name and the message; `hidden` the name and a neutral "New
     * message" (no text in the push at all); `none` "New message" alone (no name, no sender id either).
     */
    MESSAGE_PUSH_PREVIEW: z.enum(['text', 'hidden', 'none']).default('text'),
    /**
     * How long a message or notification waits for an acknowledging socket of its recipient (the SDK,
     * `auth.ack`) to confirm it before the push goes out anyway. Long enough for a socket on a slow
     * mobile link to answer (a round trip on 3G with a retransmit stays under 2 s), short enough that
     * a frozen background app's user hears of it within a few seconds.
     */
    DELIVERY_ACK_TIMEOUT_MS: int(500, 120_000).default(4000),
    /** How long per-device delivery receipts (GET .../deliveries) are kept. */
    DELIVERY_RECEIPTS_RETENTION_HOURS: int(1, 24 * 90).default(72),
  })
  .superRefine((env, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (env.REDIS_TOPOLOGY === 'sentinel' && !env.REDIS_SENTINELS)
      problem('REDIS_SENTINELS', 'REDIS_TOPOLOGY=sentinel needs the sentinels, host:port,host:port');
    if (env.JWT_ALGORITHM.startsWith('HS')) {
      // The church app's convention: MOBILE_JWT_SECRET "falls back to NEXTAUTH_SECRET".
      const name = env.MOBILE_JWT_SECRET || !env.NEXTAUTH_SECRET ? 'MOBILE_JWT_SECRET' : 'NEXTAUTH_SECRET';
      if (name === 'NEXTAUTH_SECRET' && env.NEXTAUTH_SECRET!.length < 32)
        problem('NEXTAUTH_SECRET', 'must be at least 32 characters to sign access tokens (or set MOBILE_JWT_SECRET)');
      if (!env.MOBILE_JWT_SECRET && !env.NEXTAUTH_SECRET && env.NODE_ENV !== 'production') env.MOBILE_JWT_SECRET = EXAMPLE_JWT_SECRET;
      const secret = env.MOBILE_JWT_SECRET ?? env.NEXTAUTH_SECRET;
      if (!secret) problem('MOBILE_JWT_SECRET', `is required (or NEXTAUTH_SECRET) with JWT_ALGORITHM=${env.JWT_ALGORITHM}`);
      else if (env.NODE_ENV === 'production' && secret === EXAMPLE_JWT_SECRET)
        problem(name, 'is the example secret from .env.example; set a real one in production');
    } else if (!env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL) {
      problem('JWT_PUBLIC_KEY', `or JWT_JWKS_URL is required with JWT_ALGORITHM=${env.JWT_ALGORITHM}`);
    }
    if (env.HOST_CHANNELS && !env.SUBSCRIBE_PROXY_URL && /[:+]proxy\b/.test(env.HOST_CHANNELS))
      problem('HOST_CHANNELS', 'must not name the proxy mode without SUBSCRIBE_PROXY_URL');
    if (env.CLIENT_EVENT_PROXY_EVENTS && !env.CLIENT_EVENT_PROXY_URL)
      problem('CLIENT_EVENT_PROXY_EVENTS', 'must not be set without CLIENT_EVENT_PROXY_URL');
    const hostPrefixes = (env.HOST_CHANNELS ?? '').split(',').map((item) => item.trim().split(':')[0]);
    const twice = hostPrefixes.find((p, i) => p !== 'none' && hostPrefixes.indexOf(p) !== i);
    if (twice) problem('HOST_CHANNELS', `must not name the prefix "${twice}" twice`);
    const firebase = [env.FIREBASE_PROJECT_ID, env.FIREBASE_CLIENT_EMAIL, env.FIREBASE_PRIVATE_KEY];
    if (firebase.some(Boolean) && !firebase.every(Boolean))
      problem('FIREBASE_PRIVATE_KEY', 'FIREBASE_PROJECT_ID, FIREBASE_CLIENT_EMAIL and FIREBASE_PRIVATE_KEY go together');
    else if (env.FIREBASE_PRIVATE_KEY && !isPemPrivateKey(env.FIREBASE_PRIVATE_KEY))
      problem('FIREBASE_PRIVATE_KEY', 'must be a PEM private key ("-----BEGIN PRIVATE KEY-----\\n...", \\n escapes allowed)');
    if (env.GOOGLE_APPLICATION_CREDENTIALS && !env.FIREBASE_PROJECT_ID) {
      const trouble = serviceAccountFileProblem(env.GOOGLE_APPLICATION_CREDENTIALS);
      if (trouble) problem('GOOGLE_APPLICATION_CREDENTIALS', trouble);
    }
  });

/** A PEM key with the literal `\n` escapes .env files carry turned into newlines. */
export function unescapePem<T extends string | undefined>(value: T): T {
  return value?.replace(/\\n/g, '\n') as T;
}

function isPemPrivateKey(value: string): boolean {
  const pem = unescapePem(value);
  if (!pem.includes('-----BEGIN')) return false;
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a service account JSON file, or undefined when it looks usable. */
function serviceAccountFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `must name a readable service account JSON file (${path}: ${code === 'ENOENT' ? 'no such file' : code})`;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `must name a service account JSON file (${path} is not valid JSON)`;
  }
  const missing = ['project_id', 'client_email', 'private_key'].filter((k) => typeof json?.[k] !== 'string' || !json[k]);
  if (missing.length) return `must name a service account JSON file (${path} lacks ${missing.join(', ')})`;
  if (!isPemPrivateKey(json.private_key as string)) return `must name a service account JSON file (${path}: private_key is not a PEM key)`;
  return undefined;
}

export type Env = z.infer<typeof envSchema>;

/** Thrown when the environment is invalid; its message is one line per bad variable. */
export class InvalidEnvironmentError extends Error {}

export function parseEnv(source: Record<string, string | undefined>): Env {
  // Empty strings mean "unset", as in most .env files.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    // Our own messages read on from the name ("PORT must be..."); zod's generic ones get a lead-in.
    const ownWords = /^(must|is|or) /.test(issue.message);
    return `${name} ${ownWords ? '' : 'is invalid: '}${issue.message}`;
  });
  throw new InvalidEnvironmentError(`Invalid environment: ${lines.join('; ')}`);
}
