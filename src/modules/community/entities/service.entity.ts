import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { SyncedColumns } from './synced-columns';

/** A scheduled gathering members check in to. */
@Entity('community_services')
@Index('community_services_time_idx', ['tenantId', 'startsAt'])
export class ScheduledService extends SyncedColumns {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_services_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  location: string | null;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt: Date;

  @Column({ name: 'ends_at', type: 'timestamptz' })
  endsAt: Date;

  @Column({ name: 'created_by', type: 'varchar', length: 128 })
  createdBy: string;

  /** The site (e.g. one church of a multi-church tenant); null: tenant-wide. */
  @Column({ name: 'site_id', type: 'varchar', length: 64, nullable: true })
  siteId: string | null;
}
