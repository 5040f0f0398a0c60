import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** One notify() call: what was sent, to whom, and whether its fan-out has run. */
@Entity('notifications')
@Index('IDX_notifications_idempotency', ['tenantId', 'idempotencyKey'], { unique: true })
@Index('IDX_notifications_pending', ['createdAt'], { where: `"status" = 'pending'` })
export class Notification {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ type: 'varchar', length: 32 })
  category: string;

  @Column({ type: 'varchar', length: 8 })
  priority: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ type: 'varchar', length: 2000, nullable: true })
  body: string | null;

  @Column({ type: 'jsonb' })
  data: Record<string, string>;

  @Column({ name: 'collapse_key', type: 'varchar', length: 64, nullable: true })
  collapseKey: string | null;

  @Column({ name: 'ttl_seconds', type: 'integer', nullable: true })
  ttlSeconds: number | null;

  /** The recipient selector: `{userIds}`, `{roles}`, `{topic}` or `{tenant: true}`. */
  @Column({ type: 'jsonb' })
  recipients: Record<string, unknown>;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 200, nullable: true })
  idempotencyKey: string | null;

  /** The iOS badge the caller gave; null: each recipient's unread count. */
  @Column({ type: 'integer', nullable: true })
  badge: number | null;

  /** The sound the caller named; null: `default` on alert pushes. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  sound: string | null;

  /** `pending` until the fan-out job has run, then `dispatched`. */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'dispatched_at', type: 'timestamptz', nullable: true })
  dispatchedAt: Date | null;
}
