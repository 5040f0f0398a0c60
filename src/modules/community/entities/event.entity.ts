import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { SyncedColumns } from './synced-columns';

/** A gathering members RSVP to. `private` events are seen by invitees, leaders and admins only. */
@Entity('community_events')
@Index('community_events_sync_idx', ['tenantId', 'syncXid', 'id'])
@Index('community_events_private_idx', ['tenantId', 'id'], { where: `"visibility" = 'private'` })
export class CommunityEvent extends SyncedColumns {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_events_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  location: string | null;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt: Date;

  @Column({ name: 'ends_at', type: 'timestamptz', nullable: true })
  endsAt: Date | null;

  @Column({ type: 'integer', nullable: true })
  capacity: number | null;

  @Column({ type: 'varchar', length: 16, default: 'public' })
  visibility: string;

  @Column({ name: 'created_by', type: 'varchar', length: 128 })
  createdBy: string;
}
