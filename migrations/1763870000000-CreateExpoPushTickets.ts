import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateExpoPushTickets1763870000000 implements MigrationInterface {
  name = 'CreateExpoPushTickets1763870000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "expo_push_tickets" (
        "id" varchar(64) PRIMARY KEY,
        "device_id" uuid NOT NULL,
        "notification_id" uuid,
        "check_after" timestamptz NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX "IDX_expo_push_tickets_check_after" ON "expo_push_tickets" ("check_after")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "expo_push_tickets"`);
  }
}
