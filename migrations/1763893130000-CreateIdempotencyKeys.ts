import { MigrationInterface, QueryRunner } from 'typeorm';

/** First responses to requests sent with an Idempotency-Key, per tenant, user and key (issue 13). */
export class CreateIdempotencyKeys1763893130000 implements MigrationInterface {
  name = 'CreateIdempotencyKeys1763893130000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "idempotency_keys" (
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "key" varchar(255) NOT NULL,
        "fingerprint" char(64) NOT NULL,
        "method" varchar(10) NOT NULL,
        "path" text NOT NULL,
        "status_code" integer,
        "response_headers" jsonb,
        "response_body" text,
        "locked_until" timestamptz,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "expires_at" timestamptz NOT NULL,
        PRIMARY KEY ("tenant_id", "user_id", "key")
      )`);
    await q.query(`CREATE INDEX "IDX_idempotency_keys_expires_at" ON "idempotency_keys" ("expires_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "idempotency_keys"`);
  }
}
