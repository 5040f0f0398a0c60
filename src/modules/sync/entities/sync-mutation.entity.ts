import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The idempotency ledger: one row per applied offline mutation, keyed by the caller and the
 * client's offlineId. A replay with the same payload hash answers the stored result as
 * `duplicate`; a different payload under the same key is `idempotency_key_reused`.
 */
@Entity('sync_mutations')
@Index('sync_mutations_created_idx', ['createdAt'])
export class SyncMutation {
  @PrimaryColumn({ name: 'tenant_id', type: 'varchar', length: 64, primaryKeyConstraintName: 'sync_mutations_pk' })
  tenantId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128, primaryKeyConstraintName: 'sync_mutations_pk' })
  userId: string;

  @PrimaryColumn({ name: 'offline_id', type: 'varchar', length: 128, primaryKeyConstraintName: 'sync_mutations_pk' })
  offlineId: string;

  @Column({ type: 'varchar', length: 64 })
  kind: string;

  @Column({ name: 'request_hash', type: 'varchar', length: 64 })
  requestHash: string;

  @Column({ type: 'jsonb' })
  result: Record<string, unknown>;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
