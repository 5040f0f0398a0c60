import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Per collection, the highest transaction id among tombstones the purge has hard-deleted. A
 * cursor at or below it may have missed a delete and is answered 410 `sync_reset_required`.
 */
@Entity('sync_purge_marks')
export class SyncPurgeMark {
  @PrimaryColumn({ type: 'varchar', length: 64, primaryKeyConstraintName: 'sync_purge_marks_pk' })
  collection: string;

  @Column({ name: 'purged_through_xid', type: 'bigint' })
  purgedThroughXid: string;

  @Column({ name: 'purged_at', type: 'timestamptz', default: () => 'now()' })
  purgedAt: Date;
}
