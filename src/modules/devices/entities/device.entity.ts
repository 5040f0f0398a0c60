import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * A push token and who owns it. One row per token (unique by its SHA-256, since tokens may be up to
 * 4096 characters, beyond what a btree index holds): registering a token again updates the row, and
 * a token that moves to another user moves with its row.
 */
@Entity('devices')
@Index('IDX_devices_token_hash', ['tokenHash'], { unique: true })
@Index('IDX_devices_tenant_user', ['tenantId', 'userId'])
@Index('IDX_devices_tenant_id', ['tenantId', 'id'])
@Index('IDX_devices_last_seen', ['lastSeenAt'])
@Index('IDX_devices_topics_pending', ['topicsPending', 'updatedAt'])
export class Device {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  /** Which PushSender carries it: `fcm` now; Expo tokens come later. */
  @Column({ type: 'varchar', length: 16, default: 'fcm' })
  provider: string;

  @Column({ type: 'varchar', length: 16 })
  platform: string;

  @Column({ type: 'varchar', length: 4096 })
  token: string;

  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash: string;

  /** Firebase Installation ID: firebase-admin 14 sends to it instead of the token. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  fid: string | null;

  @Column({ name: 'app_version', type: 'varchar', length: 64, nullable: true })
  appVersion: string | null;

  @Column({ type: 'varchar', length: 35, nullable: true })
  locale: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  timezone: string | null;

  /** The owner's roles when it last registered: role recipients and role topics use them. */
  @Column({ type: 'text', array: true })
  roles: string[];

  /** FCM topics the token is subscribed to, as far as Tether knows. */
  @Column({ type: 'text', array: true })
  topics: string[];

  /** The subscriptions need redoing (new token, new owner or roles, reactivated, monthly refresh). */
  @Column({ name: 'topics_pending', type: 'boolean' })
  topicsPending: boolean;

  @Column({ name: 'topics_synced_at', type: 'timestamptz', nullable: true })
  topicsSyncedAt: Date | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt: Date;

  /** Set when the provider reported the token dead; the device gets no pushes until registered again. */
  @Column({ name: 'deactivated_at', type: 'timestamptz', nullable: true })
  deactivatedAt: Date | null;

  @Column({ name: 'deactivation_reason', type: 'varchar', length: 100, nullable: true })
  deactivationReason: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
