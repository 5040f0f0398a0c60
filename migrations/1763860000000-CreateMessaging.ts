import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateMessaging1763860000000 implements MigrationInterface {
  name = 'CreateMessaging1763860000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "conversations" (
        "id" uuid PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "type" varchar(8) NOT NULL,
        "title" varchar(200),
        "created_by" varchar(128) NOT NULL,
        "direct_key" varchar(260),
        "last_seq" integer NOT NULL DEFAULT 0,
        "last_activity_at" timestamptz NOT NULL DEFAULT now(),
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`);
    // NULLs are distinct: only direct conversations (which have a key) are deduplicated.
    await q.query(`CREATE UNIQUE INDEX "IDX_conversations_direct_key" ON "conversations" ("tenant_id", "direct_key")`);
    await q.query(`
      CREATE TABLE "conversation_participants" (
        "conversation_id" uuid NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "tenant_id" varchar(64) NOT NULL,
        "role" varchar(8) NOT NULL,
        "joined_at" timestamptz NOT NULL DEFAULT now(),
        "left_at" timestamptz,
        "muted_until" timestamptz,
        "last_delivered_seq" integer NOT NULL DEFAULT 0,
        "last_read_seq" integer NOT NULL DEFAULT 0,
        PRIMARY KEY ("conversation_id", "user_id"),
        CONSTRAINT "FK_conversation_participants_conversation" FOREIGN KEY ("conversation_id")
          REFERENCES "conversations" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "IDX_conversation_participants_user" ON "conversation_participants" ("tenant_id", "user_id")`);
    await q.query(`
      CREATE TABLE "messages" (
        "id" uuid PRIMARY KEY,
        "tenant_id" varchar(64) NOT NULL,
        "conversation_id" uuid NOT NULL,
        "seq" integer NOT NULL,
        "sender_id" varchar(128) NOT NULL,
        "client_message_id" varchar(64) NOT NULL,
        "kind" varchar(16) NOT NULL,
        "content" text,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "edited_at" timestamptz,
        "deleted_at" timestamptz,
        CONSTRAINT "FK_messages_conversation" FOREIGN KEY ("conversation_id")
          REFERENCES "conversations" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE UNIQUE INDEX "IDX_messages_conversation_seq" ON "messages" ("conversation_id", "seq")`);
    await q.query(`CREATE UNIQUE INDEX "IDX_messages_sender_client_id" ON "messages" ("tenant_id", "sender_id", "client_message_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "messages"`);
    await q.query(`DROP TABLE "conversation_participants"`);
    await q.query(`DROP TABLE "conversations"`);
  }
}
