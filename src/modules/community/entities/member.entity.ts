import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { SyncedColumns } from './synced-columns';

/** A user of a tenant as the community knows them. Roles and status decide what they may see. */
@Entity('community_members')
@Index('community_members_user_uq', ['tenantId', 'userId'], { unique: true })
@Index('community_members_sync_idx', ['tenantId', 'syncXid', 'id'])
@Index('community_members_inactive_idx', ['tenantId', 'id'], { where: `"status" <> 'active'` })
export class Member extends SyncedColumns {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_members_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @Column({ name: 'display_name', type: 'varchar', length: 200 })
  displayName: string;

  @Column({ type: 'text', array: true })
  roles: string[];

  @Column({ type: 'varchar', length: 16, default: 'active' })
  status: string;

  /** The site (e.g. one church of a multi-church tenant); null: tenant-wide. */
  @Column({ name: 'site_id', type: 'varchar', length: 64, nullable: true })
  siteId: string | null;

  /** Transaction that last changed roles, status or deletion (what this member may see). */
  @Column({ name: 'access_xid', type: 'bigint', default: 0 })
  accessXid: string;
}
