import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pushes people recognise (issue 15, section 3):
 * - `user_profiles`: per tenant and user, the display name the host set through the API and the
 *   one last seen in the user's access token (`name` claim); message pushes name their sender by it.
 * - `notifications.badge`/`sound`: what the caller of notify() asked for (null: the user's unread
 *   count as the badge, the default sound on alert pushes).
 * - a partial index on unread inbox entries, which the badge counts at every fan-out.
 */
export class PushProfiles1764200000000 implements MigrationInterface {
  name = 'PushProfiles1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "user_profiles" (
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "display_name" varchar(100),
        "token_name" varchar(100),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("tenant_id", "user_id")
      )`);
    await q.query(`ALTER TABLE "notifications" ADD COLUMN "badge" integer, ADD COLUMN "sound" varchar(64)`);
    await q.query(`CREATE INDEX "IDX_notification_inbox_unread" ON "notification_inbox" ("tenant_id", "user_id") WHERE "read_at" IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IDX_notification_inbox_unread"`);
    await q.query(`ALTER TABLE "notifications" DROP COLUMN "badge", DROP COLUMN "sound"`);
    await q.query(`DROP TABLE "user_profiles"`);
  }
}
