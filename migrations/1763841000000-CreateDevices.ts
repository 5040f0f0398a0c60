import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateDevices1763841000000 implements MigrationInterface {
  name = 'CreateDevices1763841000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "devices" (
        "id" uuid PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "provider" varchar(16) NOT NULL DEFAULT 'fcm',
        "platform" varchar(16) NOT NULL,
        "token" varchar(4096) NOT NULL,
        "token_hash" varchar(64) NOT NULL,
        "fid" varchar(255),
        "app_version" varchar(64),
        "locale" varchar(35),
        "timezone" varchar(64),
        "roles" text[] NOT NULL,
        "topics" text[] NOT NULL,
        "topics_pending" boolean NOT NULL,
        "topics_synced_at" timestamptz,
        "last_seen_at" timestamptz NOT NULL,
        "deactivated_at" timestamptz,
        "deactivation_reason" varchar(100),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX "IDX_devices_token_hash" ON "devices" ("token_hash")`);
    await q.query(`CREATE INDEX "IDX_devices_tenant_user" ON "devices" ("tenant_id", "user_id")`);
    await q.query(`CREATE INDEX "IDX_devices_tenant_id" ON "devices" ("tenant_id", "id")`);
    await q.query(`CREATE INDEX "IDX_devices_last_seen" ON "devices" ("last_seen_at")`);
    await q.query(`CREATE INDEX "IDX_devices_topics_pending" ON "devices" ("topics_pending", "updated_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "devices"`);
  }
}
