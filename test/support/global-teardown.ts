import Redis from 'ioredis';
import { Client } from 'pg';
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

export async function deleteRedisKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
