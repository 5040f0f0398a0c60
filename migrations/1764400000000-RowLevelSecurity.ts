import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenant isolation in PostgreSQL, as defence in depth (issue 15): row-level security on every table
 * with a tenant_id (and `tenants`, whose id is the tenant), for the role tether_app, which sees and
 * writes only rows whose tenant_id is its session's `tether.tenant_id` (none while that is unset
 * or empty). tether_app is not a superuser, owns nothing and has no BYPASSRLS: it cannot turn the
 * policies off (ALTER TABLE needs the owner) nor give itself another role.
 *
 * The app does its tenant work as tether_app (src/core/database/row-level-security.ts): logged in
 * as it (DB_APP_USER=tether_app, with the password an operator gives it) or, by default, through
 * `SET ROLE tether_app` on the login role's connections (the login role must then be a superuser or
 * a member of tether_app: granted below). Named cross-tenant system tasks (outbox relay, purges,
 * sweepers) work as the login role, the tables' owner. RLS is enabled, not forced, for exactly
 * that: FORCE would also bind the owner, and leave system tasks, migrations and
 * DB_ROW_LEVEL_SECURITY=off seeing nothing.
 *
 * tether_app may log in (without a password until one is set: only trust authentication lets it in).
 * Roles belong to the cluster, not the database: created once, and kept by `down`. Tables added
 * later with a tenant_id need the same policy in their migration (test/row-level-security.e2e-spec.ts
 * checks that every one has it); their grants come from the default privileges set here.
 */
export class RowLevelSecurity1764400000000 implements MigrationInterface {
  name = 'RowLevelSecurity1764400000000';

  async up(q: QueryRunner): Promise<void> {
    // Several databases of one cluster may migrate at once (test worlds): a concurrent CREATE ROLE is fine.
    await q.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tether_app') THEN
          BEGIN
            CREATE ROLE tether_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
        END IF;
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          EXECUTE format('GRANT tether_app TO %I', current_user);
        END IF;
      END $$`);
    await q.query(`GRANT USAGE ON SCHEMA public TO tether_app`);
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tether_app`);
    await q.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO tether_app`);
    await q.query(`REVOKE ALL ON "migrations" FROM tether_app`);
    // Tables and sequences of later migrations get the same grants (their policies they add themselves).
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tether_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO tether_app`);

    for (const { table, column } of await tenantTables(q)) {
      const mine = `"${column}" = current_setting('tether.tenant_id', true)`;
      await q.query(`ALTER TABLE "${table}" ENABLE ROW LEVEL SECURITY`);
      await q.query(`CREATE POLICY tenant_isolation ON "${table}" TO tether_app USING (${mine}) WITH CHECK (${mine})`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const { table } of await tenantTables(q)) {
      await q.query(`DROP POLICY IF EXISTS tenant_isolation ON "${table}"`);
      await q.query(`ALTER TABLE "${table}" DISABLE ROW LEVEL SECURITY`);
    }
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM tether_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM tether_app`);
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM tether_app`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM tether_app`);
    await q.query(`REVOKE USAGE ON SCHEMA public FROM tether_app`);
  }
}

/** Every table of the schema with a tenant_id column, and `tenants` (whose id is the tenant). */
async function tenantTables(q: QueryRunner): Promise<{ table: string; column: string }[]> {
  return (await q.query(
    `SELECT c.table_name AS "table", c.column_name AS "column"
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
        AND (c.column_name = 'tenant_id' OR (c.table_name = 'tenants' AND c.column_name = 'id'))
      ORDER BY 1`,
  )) as { table: string; column: string }[];
}
