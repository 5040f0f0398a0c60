// npm run token -- --sub u1 --tid t1 --roles MEMBER[,ADMIN] [--ttl 3600]
// Prints an HS256 access token signed with MOBILE_JWT_SECRET (from the environment or .env).
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load-config';
import { signDevToken } from '../src/core/auth/dev-token';

async function main() {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'dev-user' },
      tid: { type: 'string', default: 'dev-tenant' },
      roles: { type: 'string', default: 'MEMBER' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  const config = loadConfig();
  const { algorithm, secret } = config.jwt;
  if (algorithm !== 'HS256' || !secret) throw new Error('npm run token signs HS256 tokens only (JWT_ALGORITHM=HS256)');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('--ttl must be a positive number of seconds');
  const roles = values.roles
    .split(',')
    .map((r) => r.trim().toUpperCase())
    .filter(Boolean);
  process.stdout.write((await signDevToken(secret, { sub: values.sub, tid: values.tid, roles }, ttl)) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
