import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Offline sync, domain-free: the trigger every synced table uses, the idempotency ledger of bulk
 * mutations (and the function that applies a batch, one savepoint per item), the tombstone purge
 * watermarks and the `updatedAfter` resume marks.
 */
export class CreateSync1763850000000 implements MigrationInterface {
  name = 'CreateSync1763850000000';

  async up(q: QueryRunner): Promise<void> {
    // Stamps a row with the id of the transaction that writes it (the change feed orders by it and
    // only serves ids below the oldest running transaction) and bumps its version.
    await q.query(`
      CREATE FUNCTION sync_touch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.sync_xid := pg_current_xact_id()::text::bigint;
        IF TG_OP = 'UPDATE' THEN
          NEW.version := OLD.version + 1;
          NEW.updated_at := now();
        END IF;
        RETURN NEW;
      END $$`);

    await q.query(`
      CREATE TABLE "sync_mutations" (
        "tenant_id" varchar(64) NOT NULL,
        "user_id" varchar(128) NOT NULL,
        "offline_id" varchar(128) NOT NULL,
        "kind" varchar(64) NOT NULL,
        "request_hash" varchar(64) NOT NULL,
        "result" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "sync_mutations_pk" PRIMARY KEY ("tenant_id", "user_id", "offline_id")
      )`);
    await q.query(`CREATE INDEX "sync_mutations_created_idx" ON "sync_mutations" ("created_at")`);

    await q.query(`
      CREATE TABLE "sync_purge_marks" (
        "collection" varchar(64) NOT NULL,
        "purged_through_xid" bigint NOT NULL,
        "purged_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "sync_purge_marks_pk" PRIMARY KEY ("collection")
      )`);

    await q.query(`
      CREATE TABLE "sync_resume_marks" (
        "collection" varchar(64) NOT NULL,
        "at" timestamptz NOT NULL,
        "x" bigint NOT NULL,
        "row_id" uuid NOT NULL,
        CONSTRAINT "sync_resume_marks_pk" PRIMARY KEY ("collection", "at", "x", "row_id")
      )`);

    // Applies a batch of offline mutations in request order. Each item runs in its own
    // subtransaction (a PL/pgSQL block with an EXCEPTION clause is a savepoint), so one bad item
    // never fails the others. The ledger row is claimed first: a concurrent replay of the same
    // (user, offlineId) waits for it and then answers `duplicate`. Only writes are recorded;
    // conflicts and rejections roll their savepoint back and leave nothing behind.
    // The handler is a domain function (tenant, user, item jsonb, strategy) -> jsonb result.
    await q.query(`
      CREATE FUNCTION sync_apply_batch(p_tenant text, p_user text, p_kind text, p_handler regproc, p_strategy text, p_items jsonb)
      RETURNS TABLE (ord bigint, result jsonb) LANGUAGE plpgsql AS $$
      DECLARE
        v_item jsonb;
        v_key text;
        v_hash text;
        v_res jsonb;
        v_prev record;
        v_call text := format('SELECT %s($1, $2, $3, $4)', p_handler);
      BEGIN
        FOR v_item, ord IN SELECT e.value, e.ordinality FROM jsonb_array_elements(p_items) WITH ORDINALITY e LOOP
          v_key := v_item->>'offlineId';
          v_hash := v_item->>'hash';
          v_res := NULL;
          BEGIN
            INSERT INTO sync_mutations (tenant_id, user_id, offline_id, kind, request_hash, result)
            VALUES (p_tenant, p_user, v_key, p_kind, v_hash, '{}') ON CONFLICT DO NOTHING;
            IF FOUND THEN
              EXECUTE v_call INTO v_res USING p_tenant, p_user, v_item->'data', p_strategy;
              IF v_res->>'status' IN ('created', 'updated') THEN
                UPDATE sync_mutations SET result = v_res
                 WHERE tenant_id = p_tenant AND user_id = p_user AND offline_id = v_key;
              ELSE
                RAISE EXCEPTION USING ERRCODE = 'TS001', MESSAGE = 'undo item';
              END IF;
            ELSE
              SELECT m.kind, m.request_hash, m.result INTO v_prev FROM sync_mutations m
               WHERE m.tenant_id = p_tenant AND m.user_id = p_user AND m.offline_id = v_key;
              IF v_prev.kind = p_kind AND v_prev.request_hash = v_hash THEN
                v_res := v_prev.result || jsonb_build_object('status', 'duplicate', 'originalStatus', v_prev.result->'status');
              ELSE
                v_res := jsonb_build_object('status', 'rejected', 'error', jsonb_build_object(
                  'code', 'idempotency_key_reused',
                  'message', 'This offlineId was already used for a different mutation'));
              END IF;
            END IF;
          EXCEPTION
            WHEN SQLSTATE 'TS001' THEN
              NULL; -- v_res holds the conflict or rejection; the savepoint is rolled back
            WHEN deadlock_detected OR lock_not_available OR serialization_failure OR unique_violation THEN
              v_res := jsonb_build_object('status', 'rejected', 'error', jsonb_build_object(
                'code', 'retry_later', 'message', 'A concurrent change got in the way; send this item again', 'retryable', true));
            WHEN OTHERS THEN
              v_res := jsonb_build_object('status', 'rejected', 'error', jsonb_build_object(
                'code', 'item_failed', 'message', 'The item could not be applied (SQLSTATE ' || SQLSTATE || ')'));
          END;
          result := v_res;
          RETURN NEXT;
        END LOOP;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION sync_apply_batch(text, text, text, regproc, text, jsonb)`);
    await q.query(`DROP TABLE "sync_resume_marks"`);
    await q.query(`DROP TABLE "sync_purge_marks"`);
    await q.query(`DROP TABLE "sync_mutations"`);
    await q.query(`DROP FUNCTION sync_touch()`);
  }
}
