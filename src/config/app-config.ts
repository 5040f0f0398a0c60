import type { Role } from '../core/auth/auth-user';
import { Env, EXAMPLE_JWT_SECRET, unescapePem } from './env.schema';

export type HostChannelMode = 'token' | 'proxy' | 'public';

/** Typed, grouped view of the validated environment. The only thing modules inject for settings. */
export class AppConfig {
  constructor(readonly env: Env) {}

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }
  get port(): number {
    return this.env.PORT;
  }
  get runsApi(): boolean {
    return this.env.TETHER_ROLE !== 'worker';
  }
  get runsWorkers(): boolean {
    return this.env.TETHER_ROLE !== 'api';
  }
  get logLevel(): Env['LOG_LEVEL'] {
    return this.env.LOG_LEVEL;
  }
  get logFormat(): 'pretty' | 'json' {
    return this.env.LOG_FORMAT ?? (this.env.NODE_ENV === 'development' ? 'pretty' : 'json');
  }
  get usesExampleJwtSecret(): boolean {
    return this.env.JWT_ALGORITHM.startsWith('HS') && this.jwt.secret === EXAMPLE_JWT_SECRET;
  }

  get database() {
    return {
      url: this.env.DATABASE_URL,
      autoMigrate: this.env.DB_AUTO_MIGRATE ?? !this.isProduction,
      poolSize: this.env.DB_POOL_SIZE,
      connectTimeoutMs: this.env.DB_CONNECT_TIMEOUT_MS,
      rowLevelSecurity: this.env.DB_ROW_LEVEL_SECURITY === 'on',
      appLogin: this.env.DB_APP_USER ? { user: this.env.DB_APP_USER, password: this.env.DB_APP_PASSWORD } : undefined,
    };
  }

  get redis() {
    return {
      url: this.env.REDIS_URL ?? this.env.KV_URL ?? 'redis://127.0.0.1:6379',
      topology: this.env.REDIS_TOPOLOGY,
      clusterNodes: this.env.REDIS_CLUSTER_NODES,
      sentinels: this.env.REDIS_SENTINELS,
      sentinelMaster: this.env.REDIS_SENTINEL_MASTER,
      sentinelPassword: this.env.REDIS_SENTINEL_PASSWORD,
      keyPrefix: this.env.REDIS_KEY_PREFIX,
      commandTimeoutMs: this.env.REDIS_COMMAND_TIMEOUT_MS,
    };
  }

  get health() {
    return { readyRequiresRedis: this.env.HEALTH_READY_REQUIRES_REDIS };
  }

  get jwt() {
    const e = this.env;
    const list = (v: string) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    const roles = (v: string) => (v === 'none' ? [] : (list(v) as Role[]));
    const roleMap = new Map<string, Role[]>();
    for (const item of list(e.JWT_ROLE_MAP ?? '')) {
      const at = item.lastIndexOf(':'); // provider names may hold colons themselves
      roleMap.set(item.slice(0, at), item.slice(at + 1).split('+') as Role[]);
    }
    return {
      algorithm: e.JWT_ALGORITHM,
      /** Symmetric algorithms: MOBILE_JWT_SECRET, else NEXTAUTH_SECRET (the church app's fallback). */
      secret: e.MOBILE_JWT_SECRET ?? e.NEXTAUTH_SECRET,
      publicKey: unescapePem(e.JWT_PUBLIC_KEY),
      jwksUrl: e.JWT_JWKS_URL,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE ? list(e.JWT_AUDIENCE) : undefined,
      clockToleranceSec: e.JWT_CLOCK_TOLERANCE,
      maxLifetimeSec: e.JWT_MAX_TOKEN_LIFETIME_SEC,
      claims: {
        userId: e.JWT_USER_ID_CLAIM,
        tenant: e.JWT_TENANT_CLAIM,
        defaultTenant: e.JWT_DEFAULT_TENANT,
        roles: list(e.JWT_ROLES_CLAIM),
        roleMap,
        defaultRoles: roles(e.JWT_DEFAULT_ROLES),
        name: e.JWT_NAME_CLAIM === 'none' ? undefined : e.JWT_NAME_CLAIM,
      },
    };
  }

  get http() {
    const origins = this.env.FRONTEND_URL.split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    return {
      corsOrigins: origins.includes('*') ? true : origins,
      compression: this.env.HTTP_COMPRESSION,
      bodyLimit: this.env.BODY_LIMIT,
      rateLimitPerMinute: this.env.RATE_LIMIT_PER_MINUTE,
      rateLimitExemptRoles:
        this.env.RATE_LIMIT_EXEMPT_ROLES === 'none' ? [] : this.env.RATE_LIMIT_EXEMPT_ROLES.split(',').map((r) => r.trim()),
      shutdownGraceMs: this.env.SHUTDOWN_GRACE_MS,
    };
  }

  get realtime() {
    const e = this.env;
    return {
      adapter: e.REALTIME_ADAPTER,
      adapterStrict: e.REALTIME_ADAPTER_STRICT,
      logMaxLength: e.REALTIME_LOG_MAX_LENGTH,
      logMaxAgeMs: e.REALTIME_LOG_MAX_AGE_SEC * 1000,
      presenceLogMaxAgeMs: e.REALTIME_PRESENCE_LOG_MAX_AGE_SEC * 1000,
      maxChannelsPerSocket: e.REALTIME_MAX_CHANNELS_PER_SOCKET,
      eventsPerSecond: e.REALTIME_EVENTS_PER_SECOND,
      connectsPerMinutePerIp: e.REALTIME_CONNECTS_PER_MINUTE_PER_IP,
      connectsPerMinutePerUser: e.REALTIME_CONNECTS_PER_MINUTE_PER_USER,
      maxBufferedBytes: e.REALTIME_MAX_BUFFERED_BYTES,
      maxMessageBytes: e.REALTIME_MAX_MESSAGE_BYTES,
      presenceOfflineDelayMs: e.REALTIME_PRESENCE_OFFLINE_DELAY_MS,
      maxPresenceFollows: e.REALTIME_MAX_PRESENCE_FOLLOWS,
      presenceChannels: e.REALTIME_PRESENCE_CHANNELS === 'none' ? [] : e.REALTIME_PRESENCE_CHANNELS.split(',').map((c) => c.trim()),
      channelPresenceMaxMembers: e.REALTIME_CHANNEL_PRESENCE_MAX_MEMBERS,
      podTimeoutMs: e.REALTIME_POD_TIMEOUT_MS,
      tokenGraceMs: e.REALTIME_TOKEN_GRACE_MS,
      drainMs: e.REALTIME_DRAIN_MS,
      pingIntervalMs: 25_000,
    };
  }

  /**
   * Channel prefixes the host app authorizes (HOST_CHANNELS), each with the ways it accepts:
   * a subscription token, the subscribe proxy, or both. Default: activity, booking and venue,
   * by token, and also by proxy once SUBSCRIBE_PROXY_URL is set.
   */
  get hostChannels() {
    const e = this.env;
    const defaults: HostChannelMode[] = e.SUBSCRIBE_PROXY_URL ? ['token', 'proxy'] : ['token'];
    const spec = e.HOST_CHANNELS ?? 'activity,booking,venue';
    const prefixes =
      spec === 'none'
        ? []
        : spec.split(',').map((item) => {
            const [prefix, modes] = item.trim().split(':');
            return { prefix, modes: modes ? [...new Set(modes.split('+') as HostChannelMode[])] : defaults };
          });
    return {
      prefixes,
      /** Channels every socket joins at connect (AUTO_JOIN_CHANNELS). */
      autoJoin: [
        ...new Set(
          e.AUTO_JOIN_CHANNELS.split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        ),
      ],
      tokenSecret: e.CHANNEL_TOKEN_SECRET,
      proxy: {
        url: e.SUBSCRIBE_PROXY_URL,
        secret: e.SUBSCRIBE_PROXY_SECRET,
        timeoutMs: e.SUBSCRIBE_PROXY_TIMEOUT_MS,
        cacheMs: e.SUBSCRIBE_PROXY_CACHE_MS,
      },
    };
  }

  /** The client-event proxy (CLIENT_EVENT_PROXY_*); `url` undefined when there is none. */
  get clientEventProxy() {
    const e = this.env;
    const patterns = (e.CLIENT_EVENT_PROXY_EVENTS ?? '*').split(',').map((p) => p.trim());
    return {
      url: e.CLIENT_EVENT_PROXY_URL,
      /** Patterns as anchored regular expressions (`*` is any run of characters). */
      events: e.CLIENT_EVENT_PROXY_URL ? patterns.map((p) => new RegExp(`^${p.split('*').map(escapeRegExp).join('.*')}$`)) : [],
      secret: e.SUBSCRIBE_PROXY_SECRET,
      timeoutMs: e.CLIENT_EVENT_PROXY_TIMEOUT_MS,
    };
  }

  /** Prefixes typing `{chatId}` / `{conversationId}` is looked up under, in order. */
  get typingChatPrefixes(): string[] {
    return this.env.TYPING_CHAT_PREFIXES.split(',').map((p) => p.trim());
  }

  get sync() {
    const e = this.env;
    return {
      retentionMs: e.SYNC_RETENTION_DAYS * 24 * 3600 * 1000,
      purgeIntervalMs: e.SYNC_PURGE_INTERVAL_MIN * 60 * 1000,
      readsPerMinute: e.SYNC_READS_PER_MINUTE,
      bulkPerMinute: e.SYNC_BULK_PER_MINUTE,
    };
  }

  get idempotency() {
    const e = this.env;
    return {
      ttlMs: e.IDEMPOTENCY_TTL_SEC * 1000,
      waitMs: e.IDEMPOTENCY_WAIT_MS,
      cleanupIntervalMs: e.IDEMPOTENCY_CLEANUP_INTERVAL_MIN * 60 * 1000,
    };
  }

  get outbox() {
    const e = this.env;
    return {
      relayDelayMs: e.OUTBOX_RELAY_DELAY_MS,
      relayIntervalMs: e.OUTBOX_RELAY_INTERVAL_MS,
      relayBatch: e.OUTBOX_RELAY_BATCH,
      publishTimeoutMs: e.OUTBOX_PUBLISH_TIMEOUT_MS,
    };
  }

  /**
   * The demo page (DEMO_ENABLED, on by default outside production). Its token route mints tokens
   * with the HMAC secret, so it exists only outside production and with an HS* algorithm.
   */
  get demo() {
    const enabled = this.env.DEMO_ENABLED ?? !this.isProduction;
    const jwt = this.jwt;
    return {
      enabled,
      tokenRoute: enabled && !this.isProduction && jwt.algorithm.startsWith('HS') && Boolean(jwt.secret),
      tokenTtlSec: Math.min(this.env.DEMO_TOKEN_TTL_SEC, jwt.maxLifetimeSec ?? Infinity),
    };
  }

  get firebase() {
    return {
      projectId: this.env.FIREBASE_PROJECT_ID,
      clientEmail: this.env.FIREBASE_CLIENT_EMAIL,
      privateKey: unescapePem(this.env.FIREBASE_PRIVATE_KEY),
      applicationCredentials: this.env.GOOGLE_APPLICATION_CREDENTIALS,
    };
  }

  get expo() {
    return {
      accessToken: this.env.EXPO_ACCESS_TOKEN,
      pushUrl: this.env.EXPO_PUSH_URL,
      receiptDelayMs: this.env.EXPO_RECEIPT_DELAY_MS,
    };
  }

  get push() {
    return {
      staleDeviceDays: this.env.DEVICE_STALE_DAYS,
      concurrency: this.env.PUSH_CONCURRENCY,
      maxJobsPerSecond: this.env.PUSH_MAX_JOBS_PER_SECOND,
      retryAttempts: this.env.PUSH_RETRY_ATTEMPTS,
      retryBaseMs: this.env.PUSH_RETRY_BASE_MS,
      lockMs: this.env.PUSH_LOCK_MS,
      sweepAfterMs: this.env.NOTIFICATIONS_SWEEP_AFTER_MS,
      messagePreview: this.env.MESSAGE_PUSH_PREVIEW,
    };
  }

  get delivery() {
    return {
      ackTimeoutMs: this.env.DELIVERY_ACK_TIMEOUT_MS,
      receiptsRetentionHours: this.env.DELIVERY_RECEIPTS_RETENTION_HOURS,
    };
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
