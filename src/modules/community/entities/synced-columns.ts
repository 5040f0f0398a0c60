import { Column } from 'typeorm';

/**
 * The columns of every table the change feed serves: the trigger sync_touch() sets `sync_xid`
 * (the writing transaction), bumps `version` and `updated_at`; deletes only set `deleted_at`.
 */
export abstract class SyncedColumns {
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @Column({ name: 'sync_xid', type: 'bigint', default: 0 })
  syncXid: string;
}
