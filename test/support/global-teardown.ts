import { existingWorld, removeWorld } from '../../tools/scratch';

export default async function globalTeardown(): Promise<void> {
  const { TETHER_TEST_DB: dbName, REDIS_KEY_PREFIX: prefix } = process.env;
  // Only what global-setup made: never a prefix someone set by hand.
  if (dbName && prefix?.startsWith('tether-test-')) await removeWorld(existingWorld('test', dbName, prefix));
}
