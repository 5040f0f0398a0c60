import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import type { TestApp } from './test-app';

const API = '/api/mobile/v1';
let seq = 0;

/** A tenant id no other test uses. */
export const freshTenant = (prefix = 's') => `${prefix}${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(2).toString('hex')}`;

/** A pg client on this run's database, for what only SQL can do (hold a transaction open). */
export async function pgClient(url = process.env.DATABASE_URL!): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

export interface CallerResponse<T> {
  status: number;
  body: T;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

export interface Caller {
  userId: string;
  tenantId: string;
  token: string;
  get<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<CallerResponse<T>>;
  send<T = any>(method: string, path: string, body?: unknown): Promise<CallerResponse<T>>;
}

/** An HTTP client for one user of one tenant. */
export async function caller(t: TestApp, tenantId: string, userId: string, roles: string[] = ['MEMBER']): Promise<Caller> {
  const token = await t.token({ sub: userId, tid: tenantId, roles });
  const call = async (method: string, path: string, query?: Record<string, string | number | undefined>, body?: unknown) => {
    const defined = Object.entries(query ?? {}).filter(([, v]) => v !== undefined);
    const agent = request(t.url);
    const req = agent[method.toLowerCase() as 'get'](`${API}${path}`)
      .set('Authorization', `Bearer ${token}`)
      .query(Object.fromEntries(defined));
    const res = await (body === undefined ? req : req.set('Content-Type', 'application/json').send(JSON.stringify(body)));
    // No body at all (204) reads as undefined, not as supertest's {}.
    return { status: res.status, body: res.text ? JSON.parse(res.text) : undefined, headers: res.headers as Record<string, string> };
  };
  return {
    userId,
    tenantId,
    token,
    get: (path, query) => call('GET', path, query),
    send: (method, path, body) => call(method, path, undefined, body),
  };
}

/** A client's local copy of one collection, kept the way the sync protocol says. */
export class Replica {
  readonly rows = new Map<string, any>();
  cursor?: string;
  pulls = 0;

  constructor(
    private readonly who: Caller,
    readonly collection: string,
  ) {}

  /** One page; applies it; returns the response body. */
  async pull(limit?: number): Promise<any> {
    const res = await this.who.get(`/sync/${this.collection}`, { cursor: this.cursor, limit });
    if (res.status !== 200) throw new Error(`pull ${this.collection}: ${res.status} ${JSON.stringify(res.body)}`);
    this.apply(res.body);
    return res.body;
  }

  apply(body: any, collection = this.collection): void {
    this.pulls++;
    for (const doc of body[collection]) this.rows.set(doc.id, doc);
    for (const id of Array.isArray(body.deleted) ? body.deleted : body.deleted[collection]) this.rows.delete(id);
    this.cursor = body.nextCursor;
  }

  /** Pulls until the server says nothing more is ready. */
  async drain(limit?: number): Promise<void> {
    while ((await this.pull(limit)).hasMore);
  }

  ids(): string[] {
    return [...this.rows.keys()].sort();
  }
}

export const uuid = () => randomUUID();
/** High limits so that tests are not throttled (the limits have their own test). */
export const UNTHROTTLED = { SYNC_READS_PER_MINUTE: '1000000', SYNC_BULK_PER_MINUTE: '1000000', RATE_LIMIT_PER_MINUTE: '1000000' };

/** Inserts an event straight into the table (for tests that interleave transactions by hand). */
export async function insertEvent(
  db: Client,
  tenantId: string,
  fields: { id?: string; title?: string; visibility?: string } = {},
): Promise<string> {
  const id = fields.id ?? randomUUID();
  await db.query(
    `INSERT INTO community_events (id, tenant_id, title, starts_at, visibility, created_by) VALUES ($1, $2, $3, now(), $4, 'test')`,
    [id, tenantId, fields.title ?? `event ${id.slice(0, 8)}`, fields.visibility ?? 'public'],
  );
  return id;
}
