import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/core/database/data-source.options';
import { ensureDatabase } from '../src/core/database/ensure-database';
import { dropDatabase, scratchDatabase } from '../tools/scratch';

async function tables(ds: DataSource): Promise<string[]> {
  const rows: { table_name: string }[] = await ds.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

describe('migrations on an empty database', () => {
  const db = scratchDatabase('test', `tether_mig_${randomBytes(4).toString('hex')}`);
  const url = db.url;
  let ds: DataSource;

  beforeAll(async () => {
    await ensureDatabase(url); // the same code path the app uses in development
    ds = new DataSource(dataSourceOptions(url));
    await ds.initialize();
  });
  afterAll(async () => {
    await ds.destroy();
    await dropDatabase(db);
  });

  it('ensureDatabase is idempotent', async () => {
    await expect(ensureDatabase(url)).resolves.toBeUndefined();
  });

  it('runs every migration up, then every one down, leaving only the bookkeeping table', async () => {
    const applied = await ds.runMigrations();
    expect(applied.length).toBe(ds.migrations.length);
    expect(await tables(ds)).toEqual(expect.arrayContaining(['tenants', 'migrations']));
    expect(await ds.showMigrations()).toBe(false);
    // The entities describe exactly the migrated schema (what `migration:generate --check` checks).
    expect(ds.entityMetadatas.length).toBeGreaterThan(0);
    const drift = await ds.driver.createSchemaBuilder().log();
    expect(drift.upQueries.map((q) => q.query)).toEqual([]);

    for (let i = 0; i < applied.length; i++) await ds.undoLastMigration();
    expect(await tables(ds)).toEqual(['migrations']);

    // And up again: down migrations leave nothing behind that blocks a re-run.
    await ds.runMigrations();
    expect(await tables(ds)).toContain('tenants');
  });
});
