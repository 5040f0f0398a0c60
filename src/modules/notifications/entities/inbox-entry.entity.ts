import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Notification } from './notification.entity';

/** A notification in one user's inbox. Its public id is the notification's id (one entry per user). */
@Entity('notification_inbox')
@Index('IDX_notification_inbox_user_notification', ['tenantId', 'userId', 'notificationId'], { unique: true })
@Index('IDX_notification_inbox_user_seq', ['tenantId', 'userId', 'seq'])
/** Unread entries per user: push badges count them at every fan-out. */
@Index('IDX_notification_inbox_unread', ['tenantId', 'userId'], { where: '"read_at" IS NULL' })
export class InboxEntry {
  /** Insertion order: the inbox is paged newest first on it. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq: string;

  @Column({ name: 'notification_id', type: 'uuid' })
  notificationId: string;

  @ManyToOne(() => Notification, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'notification_id', foreignKeyConstraintName: 'FK_notification_inbox_notification' })
  notification?: Notification;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'read_at', type: 'timestamptz', nullable: true })
  readAt: Date | null;
}
