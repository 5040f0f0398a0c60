import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Acknowledged delivery (see src/modules/delivery): what became of each message or notification per
 * recipient device: acknowledged by a socket (when, over which transport), pushed (the provider's
 * answer, when). One row per subject, user, device and transport: a later answer (a retried push)
 * replaces the earlier one. Kept DELIVERY_RECEIPTS_RETENTION_HOURS, then purged by created_at.
 */
export class DeliveryReceipts1764500000000 implements MigrationInterface {
  name = 'DeliveryReceipts1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "delivery_receipts" (
        "id" bigserial PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "subject_kind" varchar(16) NOT NULL,
        "subject_id" uuid NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "device_id" varchar(64) NOT NULL DEFAULT '',
        "transport" varchar(16) NOT NULL,
        "status" varchar(16) NOT NULL,
        "detail" varchar(200),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "CHK_delivery_receipts_kind" CHECK ("subject_kind" IN ('message', 'notification'))
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "IDX_delivery_receipts_one" ON "delivery_receipts" ("tenant_id", "subject_id", "user_id", "device_id", "transport")`,
    );
    await q.query(`CREATE INDEX "IDX_delivery_receipts_created" ON "delivery_receipts" ("created_at")`);
    // Row-level security, as every tenant table (migration 1764400000000).
    const mine = `"tenant_id" = current_setting('tether.tenant_id', true)`;
    await q.query(`ALTER TABLE "delivery_receipts" ENABLE ROW LEVEL SECURITY`);
    await q.query(`CREATE POLICY tenant_isolation ON "delivery_receipts" TO tether_app USING (${mine}) WITH CHECK (${mine})`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "delivery_receipts"`);
  }
}
