import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A direct (two users) or group conversation. `last_seq` is the sequence number of its newest
 * message, bumped under this row's lock by every send: messages of one conversation commit in
 * seq order, so seq is a safe cursor.
 */
@Entity('conversations')
@Index('IDX_conversations_direct_key', ['tenantId', 'directKey'], {
  unique: true,
})
export class Conversation {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  /** `direct` or `group`. */
  @Column({ type: 'varchar', length: 8 })
  type: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 128 })
  createdBy: string;

  /** Direct conversations only: the two user ids, sorted, joined by `|` (unique per tenant; see directKey). */
  @Column({ name: 'direct_key', type: 'varchar', length: 260, nullable: true })
  directKey: string | null;

  @Column({ name: 'last_seq', type: 'integer', default: 0 })
  lastSeq: number;

  @Column({
    name: 'last_activity_at',
    type: 'timestamptz',
    default: () => 'now()',
  })
  lastActivityAt: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
