import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A user's push preferences; no row means the defaults (everything on, no quiet hours). */
@Entity('notification_preferences')
export class NotificationPreferences {
  @PrimaryColumn({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  /** The global switch. */
  @Column({ type: 'boolean' })
  enabled: boolean;

  @Column({ name: 'muted_categories', type: 'text', array: true })
  mutedCategories: string[];

  /** Quiet hours as minutes after midnight in `quietTimezone`; the window may wrap midnight. */
  @Column({ name: 'quiet_start', type: 'smallint', nullable: true })
  quietStart: number | null;

  @Column({ name: 'quiet_end', type: 'smallint', nullable: true })
  quietEnd: number | null;

  @Column({ name: 'quiet_timezone', type: 'varchar', length: 64, nullable: true })
  quietTimezone: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
