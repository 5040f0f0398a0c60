import { randomBytes } from 'node:crypto';
import { createDatabase, newWorld } from '../../tools/scratch';

/**
 * One run, one world: a uniquely named database (migrated once) and a unique Redis key prefix,
 * both removed by global-teardown. Workers inherit these through process.env.
 */
export default async function globalSetup(): Promise<void> {
  const world = newWorld('test');
  await createDatabase(world.db, { migrate: true });
  Object.assign(process.env, {
    NODE_ENV: 'test',
    TETHER_TEST_DB: world.db.name,
    DATABASE_URL: world.db.url,
    DB_AUTO_MIGRATE: 'false',
    // Tenant work logs in as the row-level-security role (trust authentication: no password).
    DB_APP_USER: 'tether_app',
    REDIS_URL: world.redisUrl,
    REDIS_KEY_PREFIX: world.redisPrefix,
    MOBILE_JWT_SECRET: randomBytes(24).toString('hex'),
    JWT_ALGORITHM: 'HS256',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Nothing may reach Expo: a closed local port, unless a test points it at its fake (support/fake-expo.ts).
    EXPO_PUSH_URL: 'http://127.0.0.1:9',
  });
}
