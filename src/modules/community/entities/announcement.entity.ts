import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('community_announcements')
@Index('community_announcements_tenant_idx', ['tenantId', 'createdAt'])
export class Announcement {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_announcements_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text' })
  content: string;

  @Column({ type: 'varchar', length: 16 })
  priority: string;

  /** The site (e.g. one church of a multi-church tenant); null: tenant-wide. */
  @Column({ name: 'site_id', type: 'varchar', length: 64, nullable: true })
  siteId: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 128 })
  createdBy: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
