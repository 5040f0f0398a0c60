import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTenants1763840000000 implements MigrationInterface {
  name = 'CreateTenants1763840000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "tenants" (
        "id" varchar(64) PRIMARY KEY,
        "name" varchar(200),
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "tenants"`);
  }
}
