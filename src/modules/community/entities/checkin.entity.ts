import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ScheduledService } from './service.entity';
import { SyncedColumns } from './synced-columns';

/** A member's attendance at a service (one live check-in per member and service). */
@Entity('community_checkins')
@Index('community_checkins_member_uq', ['serviceId', 'userId'], { unique: true, where: `"deleted_at" IS NULL` })
@Index('community_checkins_sync_idx', ['tenantId', 'syncXid', 'id'])
@Index('community_checkins_tenant_idx', ['tenantId', 'id'])
export class Checkin extends SyncedColumns {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'community_checkins_pk' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'service_id', type: 'uuid' })
  serviceId: string;

  @ManyToOne(() => ScheduledService, { nullable: false })
  @JoinColumn({ name: 'service_id', foreignKeyConstraintName: 'community_checkins_service_fk' })
  service?: ScheduledService;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @Column({ name: 'checkin_time', type: 'timestamptz' })
  checkinTime: Date;

  @Column({ name: 'checkout_time', type: 'timestamptz', nullable: true })
  checkoutTime: Date | null;

  /** The offlineId of the mutation that created it (null when checked in online without one). */
  @Column({ name: 'offline_id', type: 'varchar', length: 128, nullable: true })
  offlineId: string | null;

  /** Who recorded it: the member, or the leader's kiosk that checked them in. */
  @Column({ name: 'recorded_by', type: 'varchar', length: 128 })
  recordedBy: string;

  @Column({ name: 'client_updated_at', type: 'timestamptz' })
  clientUpdatedAt: Date;
}
