import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Conversation } from './conversation.entity';

/** One message. Deleting keeps a tombstone (content null, deleted_at set) in its seq slot. */
@Entity('messages')
@Index('IDX_messages_conversation_seq', ['conversationId', 'seq'], {
  unique: true,
})
@Index('IDX_messages_sender_client_id', ['tenantId', 'senderId', 'clientMessageId'], { unique: true })
export class Message {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({
    name: 'conversation_id',
    foreignKeyConstraintName: 'FK_messages_conversation',
  })
  conversation?: Conversation;

  @Column({ type: 'integer' })
  seq: number;

  @Column({ name: 'sender_id', type: 'varchar', length: 128 })
  senderId: string;

  /** Chosen by the sending client; a resend with the same id returns this message. */
  @Column({ name: 'client_message_id', type: 'varchar', length: 64 })
  clientMessageId: string;

  /** `text` for now; attachments will add kinds. */
  @Column({ type: 'varchar', length: 16 })
  kind: string;

  @Column({ type: 'text', nullable: true })
  content: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'edited_at', type: 'timestamptz', nullable: true })
  editedAt: Date | null;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;
}
