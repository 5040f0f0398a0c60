import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The last sequence number given to an outbox row of each channel (tenant + channel). */
@Entity('outbox_channels')
export class OutboxChannel {
  @PrimaryColumn({ name: 'channel_key', type: 'text' })
  channelKey: string;

  @Column({ name: 'last_seq', type: 'bigint' })
  lastSeq: string;
}
