import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateNotifications1763842000000 implements MigrationInterface {
  name = 'CreateNotifications1763842000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "notifications" (
        "id" uuid PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "category" varchar(32) NOT NULL,
        "priority" varchar(8) NOT NULL,
        "title" varchar(200),
        "body" varchar(2000),
        "data" jsonb NOT NULL,
        "collapse_key" varchar(64),
        "ttl_seconds" integer,
        "recipients" jsonb NOT NULL,
        "idempotency_key" varchar(200),
        "status" varchar(16) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "dispatched_at" timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX "IDX_notifications_idempotency" ON "notifications" ("tenant_id", "idempotency_key")`);
    await q.query(`
      CREATE TABLE "notification_inbox" (
        "seq" bigserial PRIMARY KEY,
        "notification_id" uuid NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "read_at" timestamptz,
        CONSTRAINT "FK_notification_inbox_notification" FOREIGN KEY ("notification_id")
          REFERENCES "notifications" ("id") ON DELETE CASCADE
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "IDX_notification_inbox_user_notification" ON "notification_inbox" ("tenant_id", "user_id", "notification_id")`,
    );
    await q.query(`CREATE INDEX "IDX_notification_inbox_user_seq" ON "notification_inbox" ("tenant_id", "user_id", "seq")`);
    await q.query(`
      CREATE TABLE "notification_preferences" (
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "enabled" boolean NOT NULL,
        "muted_categories" text[] NOT NULL,
        "quiet_start" smallint,
        "quiet_end" smallint,
        "quiet_timezone" varchar(64),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("tenant_id", "user_id")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "notification_preferences"`);
    await q.query(`DROP TABLE "notification_inbox"`);
    await q.query(`DROP TABLE "notifications"`);
  }
}
