import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * An Expo push ticket that Expo accepted: its receipt (delivered, or e.g. DeviceNotRegistered) is
 * fetched after EXPO_RECEIPT_DELAY_MS. Deleted once the receipt was read, or after a day (Expo
 * keeps receipts about that long), so the table only holds pushes of the last day at most.
 */
@Entity('expo_push_tickets')
@Index('IDX_expo_push_tickets_check_after', ['checkAfter'])
export class ExpoPushTicket {
  /** The receipt id Expo returned in the ticket. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  /** No foreign key: a device deleted meanwhile just makes the receipt moot. */
  @Column({ name: 'device_id', type: 'uuid' })
  deviceId: string;

  @Column({ name: 'notification_id', type: 'uuid', nullable: true })
  notificationId: string | null;

  /** When the receipt is next asked for. */
  @Column({ name: 'check_after', type: 'timestamptz' })
  checkAfter: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
