import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Conversation } from './conversation.entity';

/**
 * A user in a conversation. Leaving sets `left_at` (history kept, conversation hidden); being
 * added again clears it. The two pointers only move forward: unread = last_seq - last_read_seq.
 */
@Entity('conversation_participants')
@Index('IDX_conversation_participants_user', ['tenantId', 'userId'])
export class Participant {
  @PrimaryColumn({ name: 'conversation_id', type: 'uuid' })
  conversationId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({
    name: 'conversation_id',
    foreignKeyConstraintName: 'FK_conversation_participants_conversation',
  })
  conversation?: Conversation;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  /** `admin` or `member`. */
  @Column({ type: 'varchar', length: 8 })
  role: string;

  @Column({ name: 'joined_at', type: 'timestamptz', default: () => 'now()' })
  joinedAt: Date;

  @Column({ name: 'left_at', type: 'timestamptz', nullable: true })
  leftAt: Date | null;

  @Column({ name: 'muted_until', type: 'timestamptz', nullable: true })
  mutedUntil: Date | null;

  @Column({ name: 'last_delivered_seq', type: 'integer', default: 0 })
  lastDeliveredSeq: number;

  @Column({ name: 'last_read_seq', type: 'integer', default: 0 })
  lastReadSeq: number;
}
