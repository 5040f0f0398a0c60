import type { NestExpressApplication } from '@nestjs/platform-express';
import { startApp, StartOptions } from '../../src/bootstrap';
import { AppConfig } from '../../src/config/app-config';
import type { DataSource, EntityManager } from 'typeorm';
import { loadConfig } from '../../src/config/load-config';
import { TenantScope } from '../../src/core/database/tenant-scope';
import { signDevToken } from '../../src/core/auth/dev-token';
import { PushSender } from '../../src/modules/devices/push/push-sender';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  /** A valid access token for this app's secret. */
  token(claims?: Partial<{ sub: string; tid: string; roles: string[] }>, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Boots the real app on a free port against this run's database and Redis prefix; `env` is laid
 * over the run's environment, `options` mount probe modules or replace providers.
 */
export async function startTestApp(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestApp> {
  const config = loadConfig({ PORT: '0', ...env });
  const app = await startApp(config, options);
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    token: (claims = {}, ttl = 3600) => signDevToken(config.jwt.secret!, { sub: 'u1', tid: 't1', roles: ['MEMBER'], ...claims }, ttl),
    close: () => app.close(),
  };
}

/**
 * The app with its PushSender replaced (the DI token is the abstract PushSender): the real
 * pipeline runs, FCM is what the test scripts. Retries back off from 20 ms, not seconds.
 */
export function startPushTestApp(sender: PushSender, env: Record<string, string> = {}): Promise<TestApp> {
  return startTestApp({ PUSH_RETRY_BASE_MS: '20', ...env }, { overrides: [{ provide: PushSender, useValue: sender }] });
}

/**
 * The app's DataSource as a test inspects and arranges rows: every tenant's, as a system task
 * (row-level security shows the app's own tenant work only its tenant's rows, and nothing at all
 * without one).
 */
export function ownerView(ds: DataSource): {
  query<T = any>(sql: string, params?: unknown[]): Promise<T>;
  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T>;
} {
  return {
    query: (sql, params) => TenantScope.system('test', () => ds.query(sql, params)),
    transaction: (work) => TenantScope.system('test', () => ds.transaction(work)),
  };
}
