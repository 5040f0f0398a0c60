import type { INestApplication, Type } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { startApp } from '../../src/bootstrap';
import { AppConfig } from '../../src/config/app-config';
import { loadConfig } from '../../src/config/load-config';
import { signDevToken } from '../../src/core/auth/dev-token';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  /** A valid access token for this app's secret. */
  token(claims?: Partial<{ sub: string; tid: string; roles: string[] }>, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

/** Boots the real app on a free port against this run's database and Redis prefix. */
export async function startTestApp(
  overrides: Record<string, string> = {},
  extraModules: Type[] = [],
): Promise<TestApp> {
  const config = loadConfig({ PORT: '0', ...overrides });
  const app = await startApp(config, extraModules);
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    token: (claims = {}, ttl = 3600) =>
      signDevToken(config.jwt.secret!, { sub: 'u1', tid: 't1', roles: ['MEMBER'], ...claims }, ttl),
    close: () => (app as INestApplication).close(),
  };
}
