import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOutbox1763880000000 implements MigrationInterface {
  name = 'CreateOutbox1763880000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "outbox" (
        "id" bigserial PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "kind" varchar(64) NOT NULL,
        "channel_key" text,
        "channel_seq" bigint,
        "payload" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "attempts" integer NOT NULL DEFAULT 0,
        "next_attempt_at" timestamptz NOT NULL DEFAULT now(),
        "last_error" text
      )`);
    await q.query(`CREATE INDEX "IDX_outbox_channel" ON "outbox" ("channel_key", "channel_seq")`);
    await q.query(`
      CREATE TABLE "outbox_channels" (
        "channel_key" text PRIMARY KEY,
        "last_seq" bigint NOT NULL
      )`);
    // The sweep of notifications whose fan-out job never ran looks for old pending ones.
    await q.query(`CREATE INDEX "IDX_notifications_pending" ON "notifications" ("created_at") WHERE "status" = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_notifications_pending"`);
    await q.query(`DROP TABLE "outbox_channels"`);
    await q.query(`DROP TABLE "outbox"`);
  }
}
