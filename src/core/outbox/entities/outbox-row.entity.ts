import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * An event or a job a committed change still owes Redis (see OutboxService). Written in the
 * change's own transaction, deleted once published.
 */
@Entity('outbox')
@Index('IDX_outbox_channel', ['channelKey', 'channelSeq'])
export class OutboxRow {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  /** Which registered handler publishes it (`realtime.event`, `queue.job`, ...). */
  @Column({ type: 'varchar', length: 64 })
  kind: string;

  /** Tenant and channel, for rows that must reach their channel's log in order; null for the others. */
  @Column({ name: 'channel_key', type: 'text', nullable: true })
  channelKey: string | null;

  /** Gapless per channel, in commit order (from outbox_channels). */
  @Column({ name: 'channel_seq', type: 'bigint', nullable: true })
  channelSeq: string | null;

  @Column({ type: 'jsonb' })
  payload: unknown;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt: Date;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;
}
