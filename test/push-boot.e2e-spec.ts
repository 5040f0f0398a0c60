import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from '../src/config/env.schema';
import { freePort, spawnApp, waitReady } from '../tools/scratch';

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
/** As it sits in a .env file: one line, with literal \n escapes. */
const escapedKey = privateKey.replace(/\n/g, '\\n');
const dir = mkdtempSync(join(tmpdir(), 'tether-firebase-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe('Firebase credentials at boot', () => {
  it('validates the service account variables, naming the one at fault', () => {
    const base = { FIREBASE_PROJECT_ID: 'demo', FIREBASE_CLIENT_EMAIL: 'push@demo.iam.gserviceaccount.com' };
    expect(() => parseEnv({ ...base, FIREBASE_PRIVATE_KEY: escapedKey })).not.toThrow();
    expect(() => parseEnv({ ...base, FIREBASE_PRIVATE_KEY: 'not-a-pem' })).toThrow(/FIREBASE_PRIVATE_KEY must be a PEM private key/);
    expect(() => parseEnv({ ...base, FIREBASE_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n' })).toThrow(
      /FIREBASE_PRIVATE_KEY must be a PEM private key/,
    );
    const good = file(
      'good.json',
      JSON.stringify({ type: 'service_account', project_id: 'demo', client_email: base.FIREBASE_CLIENT_EMAIL, private_key: privateKey }),
    );
    expect(() => parseEnv({ GOOGLE_APPLICATION_CREDENTIALS: good })).not.toThrow();
    expect(() => parseEnv({ GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing.json') })).toThrow(
      /GOOGLE_APPLICATION_CREDENTIALS must name a readable .*no such file/,
    );
    expect(() => parseEnv({ GOOGLE_APPLICATION_CREDENTIALS: file('text.json', 'hello') })).toThrow(
      /GOOGLE_APPLICATION_CREDENTIALS .*not valid JSON/,
    );
    expect(() => parseEnv({ GOOGLE_APPLICATION_CREDENTIALS: file('partial.json', '{"project_id":"demo"}') })).toThrow(
      /lacks client_email, private_key/,
    );
  });

  it('refuses to start with a malformed private key, in one line naming the variable', async () => {
    const app = spawnApp({
      PORT: '0',
      FIREBASE_PROJECT_ID: 'demo',
      FIREBASE_CLIENT_EMAIL: 'push@demo.iam.gserviceaccount.com',
      FIREBASE_PRIVATE_KEY: 'abc',
    });
    const { code } = await app.exited;
    expect(code).toBe(1);
    const lines = app.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid environment: FIREBASE_PRIVATE_KEY must be a PEM private key/);
  });

  it('refuses to start with a credentials file that does not exist', async () => {
    const app = spawnApp({ PORT: '0', GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/firebase.json' });
    expect((await app.exited).code).toBe(1);
    expect(app.output().trim()).toMatch(
      /^Invalid environment: GOOGLE_APPLICATION_CREDENTIALS must name a readable service account JSON file/,
    );
  });

  it('boots without credentials on the logging sender and says so once; with them, on FCM', async () => {
    const bare = await freePort();
    const withKey = await freePort();
    const a = spawnApp({ PORT: String(bare), LOG_LEVEL: 'info' });
    const b = spawnApp({
      PORT: String(withKey),
      LOG_LEVEL: 'info',
      GOOGLE_APPLICATION_CREDENTIALS: file(
        'boot.json',
        JSON.stringify({ project_id: 'demo-boot', client_email: 'push@demo-boot.iam.gserviceaccount.com', private_key: privateKey }),
      ),
    });
    try {
      await waitReady(`http://127.0.0.1:${bare}/health/ready`);
      await waitReady(`http://127.0.0.1:${withKey}/health/ready`);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    expect((await a.exited).code).toBe(0);
    expect((await b.exited).code).toBe(0);
    expect(a.output().match(/No Firebase credentials/g)).toHaveLength(1);
    expect(a.output()).toMatch(/pushes are logged|push notifications are logged, not sent/);
    expect(b.output()).not.toMatch(/No Firebase credentials/);
    expect(b.output()).toMatch(/push notifications go through FCM \(project demo-boot\)/);
  });
});
