import { Logger } from '@nestjs/common';
import request from 'supertest';
import { RealtimeAdapterChoice } from '../src/modules/realtime/adapter-choice';
import { eventually, freePort, PrivateRedis, spawnApp, startPrivateRedis } from '../tools/scratch';
import { broadcast } from './support/broadcast';
import { ClientSocket, connect, request as ask } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

// A managed Redis without sharded pub/sub (Upstash's protocol, Redis < 7): a private redis-server
// whose SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE are gone.
const NO_SHARDED_PUBSUB = ['SPUBLISH', 'SSUBSCRIBE', 'SUNSUBSCRIBE'].flatMap((c) => ['--rename-command', c, '']);
const tid = `adapter${Date.now().toString(36)}`;

describe('the sharded adapter on a Redis without sharded pub/sub', () => {
  let redis: PrivateRedis;
  const apps: TestApp[] = [];
  const sockets: ClientSocket[] = [];
  let warn: jest.SpyInstance;
  const fallbackWarnings = () => warn.mock.calls.filter(([message]) => /no sharded pub\/sub/.test(String(message)));

  beforeAll(async () => {
    redis = await startPrivateRedis(undefined, { args: NO_SHARDED_PUBSUB });
    warn = jest.spyOn(Logger.prototype, 'warn');
  });
  afterAll(async () => {
    warn?.mockRestore();
    for (const s of sockets) s.close();
    await Promise.all(apps.map((a) => a.close()));
    await redis?.destroy();
  });

  it('boots on the classic adapter with one warning per process, and broadcasts across two instances', async () => {
    // REALTIME_ADAPTER is sharded by default.
    const a = await startTestApp({ REDIS_URL: redis.url });
    apps.push(a);
    expect(fallbackWarnings()).toHaveLength(1);
    expect(fallbackWarnings()[0][0]).toMatch(/unknown command 'spublish'.*using the classic Socket\.IO adapter/);
    const b = await startTestApp({ REDIS_URL: redis.url });
    apps.push(b);
    expect(fallbackWarnings()).toHaveLength(2);
    for (const app of [a, b]) expect(app.app.get(RealtimeAdapterChoice).mode).toBe('classic');
    expect((await request(a.url).get('/metrics').expect(200)).text).toMatch(/tether_realtime_adapter_info\{mode="classic"\} 1/);

    const onA = await connect(a.url, await a.token({ sub: 'reader-a', tid }));
    const onB = await connect(b.url, await b.token({ sub: 'reader-b', tid }));
    sockets.push(onA, onB);
    for (const s of [onA, onB]) expect((await ask(s, 'subscribe', { channels: ['announcements'] })).subscribed).toEqual(['announcements']);
    const seenA: unknown[] = [];
    const seenB: unknown[] = [];
    onA.on('announcement:new', (p) => seenA.push(p));
    onB.on('announcement:new', (p) => seenB.push(p));
    await broadcast(b, tid, 'announcements', 'announcement:new', { id: 'from-b' });
    await broadcast(a, tid, 'announcements', 'announcement:new', { id: 'from-a' });
    await eventually(() => seenA.length === 2 && seenB.length === 2, { what: 'both broadcasts on both instances' });
    expect(seenA).toEqual([{ id: 'from-b' }, { id: 'from-a' }]);
    expect(seenB).toEqual(seenA);
    // One warning at boot, none while running.
    expect(fallbackWarnings()).toHaveLength(2);
  });

  it('refuses to start with REALTIME_ADAPTER_STRICT, saying why in one line', async () => {
    await expect(startTestApp({ REDIS_URL: redis.url, REALTIME_ADAPTER_STRICT: 'true' })).rejects.toThrow(
      /REALTIME_ADAPTER_STRICT=true, but this Redis has no sharded pub\/sub \(ERR unknown command 'spublish'\)/,
    );
    // The process (the built app): exit 1 and one line, as for an invalid environment.
    const proc = spawnApp({ LOG_LEVEL: 'silent', PORT: String(await freePort()), REDIS_URL: redis.url, REALTIME_ADAPTER_STRICT: 'true' });
    expect((await proc.exited).code).toBe(1);
    expect(proc.output().trim().split('\n')).toEqual([
      "Tether failed to start: REALTIME_ADAPTER=sharded with REALTIME_ADAPTER_STRICT=true, but this Redis has no sharded pub/sub (ERR unknown command 'spublish'): use Redis 7 or later, or set REALTIME_ADAPTER=classic",
    ]);
  });

  it('keeps the sharded adapter, with a warning, when Redis cannot be asked at boot', async () => {
    const t = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    apps.push(t);
    expect(t.app.get(RealtimeAdapterChoice).mode).toBe('sharded');
    expect(warn.mock.calls.filter(([m]) => /could not check that Redis supports sharded pub\/sub/.test(String(m)))).toHaveLength(1);
  });

  it('keeps the sharded adapter, without a word, on a Redis that has it', async () => {
    const before = fallbackWarnings().length;
    const t = await startTestApp();
    apps.push(t);
    expect(t.app.get(RealtimeAdapterChoice).mode).toBe('sharded');
    expect(fallbackWarnings()).toHaveLength(before);
  });
});
