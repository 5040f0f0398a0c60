import type { Client } from 'pg';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { freshTenant, insertEvent, pgClient, UNTHROTTLED } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

/** A raw GET (no client-side decoding), to see the bytes on the wire and the headers. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('compressed JSON responses', () => {
  let t: TestApp;
  let db: Client;
  let url: string;
  let auth: string;

  beforeAll(async () => {
    t = await startTestApp(UNTHROTTLED);
    db = await pgClient();
    const tid = freshTenant('z');
    for (let i = 0; i < 60; i++) await insertEvent(db, tid);
    url = `${t.url}/api/mobile/v1/sync/events?limit=60`;
    auth = `Bearer ${await t.token({ sub: 'reader', tid })}`;
  });
  afterAll(async () => {
    await db.end();
    await t.close();
  });

  it('sends a sync page as br or gzip to clients that accept it, the same JSON, a fraction of the bytes', async () => {
    const plain = await rawGet(url, { Authorization: auth });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const json = JSON.parse(plain.body.toString('utf8'));
    expect(json.events).toHaveLength(60);

    const br = await rawGet(url, { Authorization: auth, 'Accept-Encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/Accept-Encoding/i);
    const gzip = await rawGet(url, { Authorization: auth, 'Accept-Encoding': 'gzip' });
    expect(gzip.headers['content-encoding']).toBe('gzip');

    // The same page (its timestamp and cursor are taken per request).
    const page = (body: { events: unknown; deleted: unknown; hasMore: unknown }) => [body.events, body.deleted, body.hasMore];
    expect(page(JSON.parse(brotliDecompressSync(br.body).toString('utf8')))).toEqual(page(json));
    expect(page(JSON.parse(gunzipSync(gzip.body).toString('utf8')))).toEqual(page(json));
    // At most a fifth of the bytes per row (the goal), both ways.
    expect(br.body.length).toBeLessThan(plain.body.length / 5);
    expect(gzip.body.length).toBeLessThan(plain.body.length / 5);
  });

  it('leaves small responses as they are', async () => {
    const small = await rawGet(`${t.url}/health/live`, { 'Accept-Encoding': 'gzip, br' });
    expect(small.status).toBe(200);
    expect(small.headers['content-encoding']).toBeUndefined();
  });
});
