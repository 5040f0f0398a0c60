import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { CommunityEvent } from './event.entity';
import { SyncedColumns } from './synced-columns';

/** A member's answer to an event: going, maybe or declined. One live RSVP per member and event. */
@Entity('community_rsvps')
@Index('community_rsvps_member_uq', ['eventId', 'userId'], { unique: true, where: `"deleted_at" IS NULL` })
@Index('community_rsvps_sync_idx', ['tenantId', 'syncXid', 'id'])
@Index('community_rsvps_tenant_idx', ['tenantId', 'id'])
export class Rsvp extends SyncedColumns {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_rsvps_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  @ManyToOne(() => CommunityEvent, { nullable: false })
  @JoinColumn({ name: 'event_id', foreignKeyConstraintName: 'community_rsvps_event_fk' })
  event?: CommunityEvent;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ name: 'offline_id', type: 'varchar', length: 128, nullable: true })
  offlineId: string | null;

  /** The client's time of the change (clamped to server time): last-write-wins compares it. */
  @Column({ name: 'client_updated_at', type: 'timestamptz' })
  clientUpdatedAt: Date;
}
