import { Client } from 'pg';
import { CuttableProxy, sleep, startCuttableProxy } from '../tools/scratch';
import { messagingClient } from './support/messaging';
import { startTestApp, TestApp } from './support/test-app';

// The app reaches this run's database through a TCP proxy that drops every connection at once
// (as a PostgreSQL restart or a network fault does) and can refuse new ones for a while. The
// shared PostgreSQL cluster itself is never touched.
const tid = `pgfault${Date.now().toString(36)}`;

describe('PostgreSQL connections cut under traffic', () => {
  let proxy: CuttableProxy;
  let t: TestApp;
  let db: Client;

  beforeAll(async () => {
    const direct = new URL(process.env.DATABASE_URL!);
    proxy = await startCuttableProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(direct);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    t = await startTestApp({ DATABASE_URL: viaProxy.toString(), DB_CONNECT_TIMEOUT_MS: '1000', RATE_LIMIT_PER_MINUTE: '100000' });
    db = new Client({ connectionString: direct.toString() });
    await db.connect();
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await db?.end();
  });

  it('answers 2xx or 503 database_unavailable (never 500), recovers by itself, and leaves nothing half-written', async () => {
    const alice = messagingClient(t.url, await t.token({ sub: 'alice', tid }));
    const conversation = (await alice.post('/conversations', { type: 'direct', participantIds: ['bob'] }).expect(201)).body.id as string;

    const outcomes: { status: number; code?: string; retryAfter?: string; ms: number }[] = [];
    const sent = new Map<string, number>(); // clientMessageId -> status
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const clientMessageId = `w${w}-${n++}`;
        const started = Date.now();
        const res =
          n % 3 === 0
            ? await alice.get(`/conversations/${conversation}/messages`)
            : await alice.post(`/conversations/${conversation}/messages`, { clientMessageId, content: clientMessageId });
        outcomes.push({ status: res.status, code: res.body.code, retryAfter: res.headers['retry-after'], ms: Date.now() - started });
        if (res.request.method === 'POST') sent.set(clientMessageId, res.status);
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(400);
    proxy.cut();
    await sleep(400);
    proxy.cut();
    // A restart: connections dropped, new ones refused for a while, then accepted again.
    await sleep(300);
    proxy.refuse(true);
    proxy.cut();
    await sleep(1200);
    proxy.refuse(false);
    await sleep(800);
    stop = true;
    await Promise.all(workers);

    const unavailable = outcomes.filter((o) => o.status === 503);
    expect(outcomes.filter((o) => o.status !== 503 && (o.status < 200 || o.status > 299))).toEqual([]);
    expect(unavailable.length).toBeGreaterThan(0);
    for (const o of unavailable) expect([o.code, o.retryAfter]).toEqual(['database_unavailable', '5']);
    // Bounded by the pool's connection timeout (1 s here), not hanging.
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(3000);
    // The pool reconnected by itself: the last requests succeeded.
    expect(outcomes.slice(-4).every((o) => o.status >= 200 && o.status < 300)).toBe(true);

    // A client retries what got a 503 with the same clientMessageId: stored once, whether or not
    // the first attempt had committed.
    for (const [clientMessageId, status] of sent)
      if (status === 503)
        expect([200, 201]).toContain(
          (await alice.post(`/conversations/${conversation}/messages`, { clientMessageId, content: clientMessageId })).status,
        );

    // Nothing half-written: one row per clientMessageId, seqs 1..n without a gap, the
    // conversation's counter at n.
    const rows = (
      await db.query<{ seq: number; client_message_id: string }>(
        'SELECT seq, client_message_id FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [conversation],
      )
    ).rows;
    expect(rows.map((r) => r.client_message_id).sort()).toEqual([...sent.keys()].sort());
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const [{ last_seq }] = (await db.query<{ last_seq: number }>('SELECT last_seq FROM conversations WHERE id = $1', [conversation])).rows;
    expect(last_seq).toBe(rows.length);
  }, 30000);
});
