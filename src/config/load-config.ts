import { existsSync } from 'node:fs';
import { AppConfig } from './app-config';
import { parseEnv } from './env.schema';

/**
 * Reads the process environment (after a `.env` file in the working directory, if any, which
 * never overrides a variable already set), applies overrides, and validates it all at once.
 */
export function loadConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return new AppConfig(parseEnv({ ...process.env, ...overrides }));
}
