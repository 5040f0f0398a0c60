import request from 'supertest';
import { freePort, spawnApp, waitReady } from '../tools/scratch';

describe('process lifecycle', () => {
  it('stops at boot with one clear line naming a malformed variable', async () => {
    const app = spawnApp({ PORT: 'not-a-port', MOBILE_JWT_SECRET: 'short' });
    const { code } = await app.exited;
    expect(code).toBe(1);
    const lines = app.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Invalid environment: PORT must be a number; MOBILE_JWT_SECRET must be at least 32 characters$/);
  });

  it('serves, then on SIGTERM drains and exits 0', async () => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), LOG_LEVEL: 'info' });
    await waitReady(`http://127.0.0.1:${port}/health/ready`);
    app.child.kill('SIGTERM');
    const { code } = await app.exited;
    expect(code).toBe(0);
    expect(app.output()).toMatch(/SIGTERM: draining/);
    await expect(request(`http://127.0.0.1:${port}`).get('/health/live')).rejects.toThrow();
  });
});
