import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { TenantScope } from '../src/core/database/tenant-scope';
import { IdempotencyCleaner } from '../src/core/idempotency/idempotency.cleaner';
import { OutboxRelay } from '../src/core/outbox/outbox.relay';
import { SyncService } from '../src/modules/sync/sync.service';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Tenant isolation in PostgreSQL (row-level security, migration 1764400000000): the app's tenant
 * work runs as role tether_app, which sees only the rows of the tenant its scope names and cannot
 * turn that off; named system tasks run as the login role (the owner). Both ways of becoming
 * tether_app are checked: logging in as it (DB_APP_USER, as the test world runs) and SET ROLE on
 * the login role's connections (DB_APP_USER unset, the default). Two connections in the pool, so
 * scope changes (and the cache that skips unchanged ones) hit the same sessions again and again.
 */
const A = `rls-a-${randomBytes(3).toString('hex')}`;
const B = `rls-b-${randomBytes(3).toString('hex')}`;
let admin: Client;

beforeAll(async () => {
  admin = new Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  for (const [tenant, title] of [
    [A, 'a1'],
    [A, 'a2'],
    [B, 'b1'],
  ])
    await admin.query(`INSERT INTO conversations (id, tenant_id, type, title, created_by) VALUES ($1, $2, 'group', $3, 'u1')`, [
      randomUUID(),
      tenant,
      title,
    ]);
});
afterAll(async () => {
  await admin?.query(`DELETE FROM conversations WHERE tenant_id IN ($1, $2)`, [A, B]);
  await admin?.end();
});

const sqlState = (work: Promise<unknown>) =>
  work.then(
    () => 'no error',
    (err: { code?: string }) => err.code,
  );

it('puts every table with a tenant_id (and tenants) under the tenant policy of tether_app', async () => {
  const { rows } = await admin.query<{ table: string; rls: boolean; policies: string[] }>(`
    SELECT c.relname AS "table", c.relrowsecurity AS rls,
           ARRAY(SELECT p.polname::text || ':' || r.rolname FROM pg_policy p JOIN pg_roles r ON r.oid = ANY (p.polroles)
                  WHERE p.polrelid = c.oid ORDER BY 1) AS policies
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'))`);
  expect(rows.length).toBeGreaterThanOrEqual(18);
  for (const row of rows) expect(row).toEqual({ table: row.table, rls: true, policies: ['tenant_isolation:tether_app'] });
  const [role] = (await admin.query(`SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'tether_app'`)).rows;
  expect(role).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false });
});

describe.each([
  ['logged in as tether_app (DB_APP_USER)', {}, 'tether_app'],
  ['SET ROLE tether_app on the login role (DB_APP_USER unset)', { DB_APP_USER: undefined }, 'postgres'],
])('row-level security, %s', (_mode, env, sessionUser) => {
  let t: TestApp;
  let ds: DataSource;
  const titles = async (sql: string, params: unknown[] = []) =>
    ((await ds.query(sql, params)) as { title: string }[]).map((r) => r.title).sort();
  const insertFor = (tenant: string) =>
    ds.query(`INSERT INTO conversations (id, tenant_id, type, created_by) VALUES ($1, $2, 'group', 'u1')`, [randomUUID(), tenant]);

  beforeAll(async () => {
    t = await startTestApp({ DB_POOL_SIZE: '2', ...(env as Record<string, string>) });
    ds = t.app.get(DataSource);
  });
  afterAll(() => t?.close());

  it('a query without the tenant setting sees no rows, and cannot write any', async () => {
    expect(await titles(`SELECT title FROM conversations`)).toEqual([]);
    expect(
      await ds.query(`SELECT current_user AS "user", session_user AS "session", current_setting('tether.tenant_id', true) AS tenant`),
    ).toEqual([{ user: 'tether_app', session: sessionUser, tenant: '' }]);
    expect(await sqlState(insertFor(A))).toBe('42501');
  });

  it("a tenant's query never sees another tenant's rows, even when its WHERE clause forgets tenant_id", async () => {
    await TenantScope.run(A, async () => {
      expect(await titles(`SELECT title FROM conversations`)).toEqual(['a1', 'a2']);
      expect(await titles(`SELECT title FROM conversations WHERE tenant_id = $1`, [B])).toEqual([]);
      expect(await titles(`SELECT title FROM conversations WHERE title = 'b1'`)).toEqual([]);
      // Writes: another tenant's rows are out of reach, and no row may be written for another tenant.
      expect(await ds.query(`UPDATE conversations SET title = 'stolen' WHERE title = 'b1'`)).toEqual([[], 0]);
      expect(await ds.query(`DELETE FROM conversations WHERE title = 'b1'`)).toEqual([[], 0]);
      expect(await sqlState(insertFor(B))).toBe('42501');
      expect(await sqlState(ds.query(`UPDATE conversations SET tenant_id = $1 WHERE title = 'a1'`, [B]))).toBe('42501');
    });
    await TenantScope.run(B, async () => expect(await titles(`SELECT title FROM conversations`)).toEqual(['b1']));
    await TenantScope.run(A, async () => expect(await titles(`SELECT title FROM conversations`)).toEqual(['a1', 'a2']));
    // In transactions too, and on the pool's own query path (the prepared statements of messaging and sync).
    await TenantScope.run(B, () =>
      ds.transaction(async (em) => expect(((await em.query(`SELECT title FROM conversations`)) as unknown[]).length).toBe(1)),
    );
    const pool = (ds.driver as unknown as { master: { query: (q: object) => Promise<{ rows: { title: string }[] }> } }).master;
    const named = { name: 'rls-spec-titles', text: 'SELECT title FROM conversations ORDER BY title' };
    expect((await TenantScope.run(A, () => pool.query(named))).rows.map((r) => r.title)).toEqual(['a1', 'a2']);
    expect((await TenantScope.run(B, () => pool.query(named))).rows.map((r) => r.title)).toEqual(['b1']);
    expect((await pool.query(named)).rows).toEqual([]);
  });

  it('keeps each scope to its tenant when concurrent work of several tenants shares the connections', async () => {
    const ask = (tenant: string | undefined) =>
      tenant ? TenantScope.run(tenant, () => titles(`SELECT title FROM conversations`)) : titles(`SELECT title FROM conversations`);
    const order = [A, B, undefined, B, A, A, undefined, B, A, B, B, undefined];
    const answers = await Promise.all(order.map(ask));
    expect(answers).toEqual(order.map((x) => (x === A ? ['a1', 'a2'] : x === B ? ['b1'] : [])));
  });

  it('the app role cannot turn row-level security off, nor name every tenant at once', async () => {
    await TenantScope.run(A, async () => {
      expect(await sqlState(ds.query(`ALTER TABLE conversations DISABLE ROW LEVEL SECURITY`))).toBe('42501');
      expect(await sqlState(ds.query(`ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY`))).toBe('42501');
      expect(await sqlState(ds.query(`DROP POLICY tenant_isolation ON conversations`))).toBe('42501');
      expect(await sqlState(ds.query(`CREATE POLICY mine ON conversations USING (true)`))).toBe('42501');
      expect(await sqlState(ds.query(`ALTER ROLE tether_app BYPASSRLS`))).toBe('42501');
      // row_security off does not lift the policies of a role without BYPASSRLS: the query fails instead.
      await ds.transaction(async (em) => {
        await em.query(`SET LOCAL row_security = off`);
        expect(await sqlState(em.query(`SELECT title FROM conversations`))).toBe('42501');
      });
      // A pattern is no wildcard: the policy compares for equality.
      await ds.transaction(async (em) => {
        await em.query(`SELECT set_config('tether.tenant_id', '%', true)`);
        expect(await em.query(`SELECT title FROM conversations`)).toEqual([]);
      });
    });
  });

  it('named system tasks see every tenant: the outbox relay, the sync purge and the idempotency cleanup run', async () => {
    const both = await TenantScope.system('spec', () => titles(`SELECT title FROM conversations WHERE tenant_id IN ($1, $2)`, [A, B]));
    expect(both).toEqual(['a1', 'a2', 'b1']);
    expect(await TenantScope.system('spec', () => ds.query(`SELECT current_user AS "user"`))).toEqual([{ user: 'postgres' }]);
    expect(await t.app.get(IdempotencyCleaner).cleanup()).not.toBeNull();
    expect(await t.app.get(SyncService).purge(new Date(0))).not.toBeNull();
    expect(await t.app.get(OutboxRelay).runOnce()).toBeGreaterThanOrEqual(0);
  });
});

describe('row-level security, logged in as tether_app', () => {
  let t: TestApp;
  let ds: DataSource;
  beforeAll(async () => {
    t = await startTestApp({ DB_POOL_SIZE: '1' });
    ds = t.app.get(DataSource);
  });
  afterAll(() => t?.close());

  it('its sessions cannot become another role: no SET ROLE, and RESET ROLE stays tether_app', async () => {
    await TenantScope.run(A, async () => {
      expect(await sqlState(ds.query(`SET ROLE postgres`))).toBe('42501');
      await ds.transaction(async (em) => {
        await em.query(`RESET ROLE`);
        expect(await em.query(`SELECT current_user AS "user"`)).toEqual([{ user: 'tether_app' }]);
        expect(((await em.query(`SELECT title FROM conversations`)) as unknown[]).length).toBe(2);
      });
    });
  });
});
