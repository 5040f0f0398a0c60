import type { Type } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { configureApp } from '../../src/app.setup';
import { loadConfig } from '../../src/config/load-config';
import { TokenVerifier } from '../../src/core/auth/token-verifier.service';
import { signDevToken } from '../../src/core/auth/dev-token';
import { PushSender } from '../../src/modules/devices/push/push-sender';
import type { TestApp } from './test-app';

/**
 * Like startTestApp, with the app's PushSender replaced through Nest's testing module (the DI
 * token is the abstract PushSender): the real pipeline runs, FCM is what the test scripts.
 */
export async function startPushTestApp(
  sender: PushSender,
  overrides: Record<string, string> = {},
  extraModules: Type[] = [],
): Promise<TestApp> {
  const config = loadConfig({ PORT: '0', PUSH_RETRY_BASE_MS: '20', ...overrides });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config, extraModules)] })
    .overrideProvider(PushSender)
    .useValue(sender)
    .compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bufferLogs: true, bodyParser: false });
  configureApp(app, config);
  await app.get(TokenVerifier).assertUsable();
  await app.listen(0);
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    token: (claims = {}, ttl = 3600) =>
      signDevToken(config.jwt.secret!, { sub: 'u1', tid: 't1', roles: ['MEMBER'], ...claims }, ttl),
    close: () => app.close(),
  };
}
