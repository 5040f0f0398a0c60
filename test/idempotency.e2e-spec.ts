import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { freePort, NodeProcess, PrivateRedis, sleep, spawnApp, startPrivateRedis, stopChild, waitReady } from '../tools/scratch';
import { signDevToken } from '../src/core/auth/dev-token';
import { IdempotencyCleaner } from '../src/core/idempotency';
import { API, messagingClient } from './support/messaging';
import { probeRuns, ProbeModule } from './support/probe.module';
import { ownerView, startTestApp, TestApp } from './support/test-app';
import { ERROR_SHAPE } from './support/error-shape';

describe('Idempotency-Key on writes', () => {
  let t: TestApp;
  const tenant = `idem-${randomUUID().slice(0, 8)}`;
  const tokenOf = (sub: string) => t.token({ sub, tid: tenant });
  beforeAll(async () => {
    t = await startTestApp({ IDEMPOTENCY_WAIT_MS: '3000' }, { extraModules: [ProbeModule] });
  });
  afterAll(() => t.close());

  async function conversationOf(user: string, other: string) {
    const c = messagingClient(t.url, await tokenOf(user));
    const res = await c.post('/conversations', { type: 'group', participantIds: [other], title: 'Trip' }).expect(201);
    return { c, id: res.body.id as string, token: await tokenOf(user) };
  }

  it("stores a message once when the activities app's offline queue replays it without clientMessageId", async () => {
    const { c, id, token } = await conversationOf('ana', 'ben');
    const key = randomUUID();
    // The queue replays the same request as it was first sent: no client id, just the header.
    const send = () =>
      request(t.url)
        .post(`${API}/conversations/${id}/messages`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key)
        .send({ content: 'See you at 6' });
    const first = await send().expect(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await send().expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toMatch(/application\/json/);
    expect(again.body).toEqual(first.body);
    const history = await c.get(`/conversations/${id}/messages`).expect(200);
    expect(history.body.messages.filter((m: { content: string }) => m.content === 'See you at 6')).toHaveLength(1);
    // Without the header nothing changes: two sends are two messages.
    await c.post(`/conversations/${id}/messages`, { content: 'twice' }).expect(201);
    await c.post(`/conversations/${id}/messages`, { content: 'twice' }).expect(201);
    const after = await c.get(`/conversations/${id}/messages`).expect(200);
    expect(after.body.messages.filter((m: { content: string }) => m.content === 'twice')).toHaveLength(2);
  });

  it('refuses the same key for another body, path or method with 422 idempotency_key_reused', async () => {
    const { id, token } = await conversationOf('cleo', 'dan');
    const key = randomUUID();
    const post = (path: string, body: object) =>
      request(t.url).post(`${API}${path}`).set('Authorization', `Bearer ${token}`).set('Idempotency-Key', key).send(body);
    await post(`/conversations/${id}/messages`, { content: 'one' }).expect(201);
    for (const res of [
      await post(`/conversations/${id}/messages`, { content: 'two' }),
      await post(`/conversations/${id}/read`, {}),
      await request(t.url)
        .put(`${API}/conversations/${id}/mute`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key)
        .send({ until: null }),
    ]) {
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ ...ERROR_SHAPE, statusCode: 422, error: 'Unprocessable Entity', code: 'idempotency_key_reused' });
    }
    // The same body with its keys in another order is the same request.
    await post(`/conversations/${id}/messages`, { content: 'one' }).expect(201).expect('Idempotent-Replayed', 'true');
  });

  it('scopes keys per user and tenant', async () => {
    const key = randomUUID();
    const post = async (sub: string, tid: string) =>
      request(t.url)
        .post(`${API}/probe/counted?name=scoped-${key}`)
        .set('Authorization', `Bearer ${await t.token({ sub, tid })}`)
        .set('Idempotency-Key', key);
    expect((await post('u1', tenant)).body.run).toBe(1);
    expect((await post('u1', tenant)).body.run).toBe(1);
    expect((await post('u2', tenant)).body.run).toBe(2);
    expect((await post('u1', `${tenant}-b`)).body.run).toBe(3);
  });

  it('answers invalid keys with 400 idempotency_key_invalid and runs nothing', async () => {
    const token = await tokenOf('eve');
    for (const key of ['', 'k'.repeat(256), 'two words', 'caf\u00e9']) {
      const res = await request(t.url)
        .post(`${API}/probe/counted?name=invalid`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', Buffer.from(key, 'latin1').toString('latin1'));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ ...ERROR_SHAPE, statusCode: 400, error: 'Bad Request', code: 'idempotency_key_invalid' });
    }
    expect(probeRuns.get('invalid')).toBeUndefined();
    // The draft's quoted form is the same key as the bare one.
    const key = randomUUID();
    const bare = await request(t.url)
      .post(`${API}/probe/counted?name=quoted`)
      .set('Authorization', `Bearer ${token}`)
      .set('Idempotency-Key', key);
    const quoted = await request(t.url)
      .post(`${API}/probe/counted?name=quoted`)
      .set('Authorization', `Bearer ${token}`)
      .set('Idempotency-Key', `"${key}"`);
    expect(quoted.headers['idempotent-replayed']).toBe('true');
    expect(quoted.body).toEqual(bare.body);
  });

  it('makes concurrent duplicates wait for the first and get its answer; the handler runs once', async () => {
    const token = await tokenOf('fay');
    const key = randomUUID();
    const name = `concurrent-${key}`;
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        request(t.url)
          .post(`${API}/probe/counted?name=${name}&delayMs=300`)
          .set('Authorization', `Bearer ${token}`)
          .set('Idempotency-Key', key),
      ),
    );
    expect(probeRuns.get(name)).toBe(1);
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(results.every((r) => r.body.run === 1)).toBe(true);
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(4);
  });

  it('answers 409 idempotency_key_in_progress with Retry-After when the first runs longer than IDEMPOTENCY_WAIT_MS', async () => {
    const token = await tokenOf('gus');
    const key = randomUUID();
    const name = `slow-${key}`;
    const send = () =>
      request(t.url)
        .post(`${API}/probe/counted?name=${name}&delayMs=4000`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key);
    const first = send().then((r) => r);
    await sleep(200);
    const second = await send();
    expect(second.status).toBe(409);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.body).toEqual({ ...ERROR_SHAPE, statusCode: 409, error: 'Conflict', code: 'idempotency_key_in_progress' });
    expect((await first).status).toBe(201);
    expect((await send()).headers['idempotent-replayed']).toBe('true');
    expect(probeRuns.get(name)).toBe(1);
  }, 15_000);

  it('keeps 4xx answers but not 5xx: a retry after a server error runs again', async () => {
    const token = await tokenOf('hal');
    const key = randomUUID();
    const crash = () =>
      request(t.url)
        .post(`${API}/probe/counted-crash?name=crash-${key}`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key);
    expect((await crash()).status).toBe(500);
    const again = await crash();
    expect(again.status).toBe(500);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(probeRuns.get(`crash-${key}`)).toBe(2);

    const invalidKey = randomUUID();
    const invalid = () =>
      request(t.url)
        .post(`${API}/probe/echo`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', invalidKey)
        .send({ name: 'x', count: 99, platform: 'ios' });
    const firstInvalid = await invalid().expect(400);
    const replayed = await invalid().expect(400).expect('Idempotent-Replayed', 'true');
    expect(replayed.body).toEqual(firstInvalid.body);
  });

  it('replays a DELETE (204, no body) and leaves GET and requests without the header alone', async () => {
    const { c, id, token } = await conversationOf('ivy', 'jon');
    const msg = await c.post(`/conversations/${id}/messages`, { content: 'oops' }).expect(201);
    const key = randomUUID();
    const del = () =>
      request(t.url)
        .delete(`${API}/conversations/${id}/messages/${msg.body.id}`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key);
    const first = await del();
    expect([200, 204]).toContain(first.status);
    const again = await del();
    expect(again.status).toBe(first.status);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const get = await c.get(`/conversations/${id}/messages`).set('Idempotency-Key', key).expect(200);
    expect(get.headers['idempotent-replayed']).toBeUndefined();
  });

  it('documents the header and its answers on every write in OpenAPI', async () => {
    const doc = (await request(t.url).get('/docs-json').expect(200)).body;
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    const send = doc.paths['/api/mobile/v1/conversations/{id}/messages'].post;
    expect(send.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
    expect(send.responses['422'].description).toMatch(/idempotency_key_reused/);
    expect(send.responses['409'].description).toMatch(/client_message_id_conflict.*idempotency_key_in_progress/s);
    const list = doc.paths['/api/mobile/v1/conversations/{id}/messages'].get;
    expect(list.parameters ?? []).not.toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
  });
});

describe('Idempotency-Key expiry and cleanup', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ IDEMPOTENCY_TTL_SEC: '1' }, { extraModules: [ProbeModule] });
  });
  afterAll(() => t.close());

  it('runs a request again once its key expired, and the cleanup deletes expired keys from PostgreSQL', async () => {
    const token = await t.token({ sub: 'kim', tid: `idem-ttl-${randomUUID().slice(0, 8)}` });
    const key = randomUUID();
    const name = `ttl-${key}`;
    const send = () =>
      request(t.url).post(`${API}/probe/counted?name=${name}`).set('Authorization', `Bearer ${token}`).set('Idempotency-Key', key);
    expect((await send()).body.run).toBe(1);
    expect((await send()).body.run).toBe(1);
    await sleep(1100);
    expect((await send()).body.run).toBe(2);
    await sleep(1100);
    const ds = ownerView(t.app.get(DataSource));
    const count = async () => Number((await ds.query(`SELECT count(*) AS n FROM idempotency_keys WHERE key = $1`, [key]))[0].n);
    expect(await count()).toBe(1);
    expect(await t.app.get(IdempotencyCleaner).cleanup()).toBeGreaterThanOrEqual(1);
    expect(await count()).toBe(0);
  });
});

// A separate process (dist/src/main.js, as the other outage tests): its Redis clients retry while
// Redis is gone, which must not linger in the test runner.
describe('Idempotency-Key while Redis is away', () => {
  let redis: PrivateRedis;
  let proc: NodeProcess;
  let url: string;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    const port = await freePort();
    proc = spawnApp({ LOG_LEVEL: 'silent', PORT: String(port), REDIS_URL: redis.url });
    url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}/health/ready`, proc);
  }, 60_000);
  afterAll(async () => {
    if (proc) await stopChild(proc.child);
    await redis?.destroy();
  }, 30_000);

  it('keeps and replays a message send from PostgreSQL alone', async () => {
    const tid = `idem-redis-${randomUUID().slice(0, 8)}`;
    const token = await signDevToken(process.env.MOBILE_JWT_SECRET!, { sub: 'lea', tid, roles: ['MEMBER'] });
    const c = messagingClient(url, token);
    const id = (await c.post('/conversations', { type: 'direct', participantIds: ['max'] }).expect(201)).body.id as string;
    await redis.stop();
    const key = randomUUID();
    const send = () =>
      request(url)
        .post(`${API}/conversations/${id}/messages`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', key)
        .send({ content: 'sent offline, replayed by the queue' });
    const first = await send();
    expect(first.status).toBe(201);
    const again = await send();
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    const history = await c.get(`/conversations/${id}/messages`).expect(200);
    expect(history.body.messages.filter((m: { content: string }) => m.content.startsWith('sent offline'))).toHaveLength(1);
  }, 30_000);
});
