import { Client } from 'pg';
import { deleteRedisKeys } from '../../bench/support/scratch';
import { TEST_ADMIN_URL } from './test-db';

export default async function globalTeardown(): Promise<void> {
  const dbName = process.env.TETHER_TEST_DB;
  if (dbName) {
    const admin = new Client({ connectionString: TEST_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  }
  const prefix = process.env.REDIS_KEY_PREFIX;
  if (prefix?.startsWith('tether-test-')) await deleteRedisKeys(process.env.REDIS_URL!, `${prefix}:*`);
}
