import { Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, Column } from 'typeorm';
import { CommunityEvent } from './event.entity';
import { SyncedColumns } from './synced-columns';

/** Access to a private event. Revoking soft-deletes it, so the invitee's feed reports the event deleted. */
@Entity('community_event_invites')
@Index('community_event_invites_user_idx', ['tenantId', 'userId', 'syncXid', 'eventId'])
export class EventInvite extends SyncedColumns {
  @PrimaryColumn({ name: 'event_id', type: 'uuid', primaryKeyConstraintName: 'community_event_invites_pk' })
  eventId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128, primaryKeyConstraintName: 'community_event_invites_pk' })
  userId: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @ManyToOne(() => CommunityEvent, { nullable: false })
  @JoinColumn({ name: 'event_id', foreignKeyConstraintName: 'community_event_invites_event_fk' })
  event?: CommunityEvent;
}
