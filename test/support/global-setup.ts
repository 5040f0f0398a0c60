import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/core/database/data-source.options';
import { databaseUrl, TEST_ADMIN_URL } from './test-db';

/**
 * One run, one world: a uniquely named database (migrated once) and a unique Redis key prefix,
 * both removed by global-teardown. Workers inherit these through process.env.
 */
export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dbName = `tether_test_${runId}`;
  const admin = new Client({ connectionString: TEST_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();

  const url = databaseUrl(dbName);
  const ds = new DataSource(dataSourceOptions(url));
  await ds.initialize();
  await ds.runMigrations();
  await ds.destroy();

  Object.assign(process.env, {
    NODE_ENV: 'test',
    TETHER_TEST_DB: dbName,
    DATABASE_URL: url,
    DB_AUTO_MIGRATE: 'false',
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `tether-test-${runId}`,
    MOBILE_JWT_SECRET: randomBytes(24).toString('hex'),
    JWT_ALGORITHM: 'HS256',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Nothing may reach Expo: a closed local port, unless a test points it at its fake (support/fake-expo.ts).
    EXPO_PUSH_URL: 'http://127.0.0.1:9',
  });
}
