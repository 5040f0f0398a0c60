import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OutboxService } from '../../core/outbox';
import { DeliveryModule, DeliveryService } from '../delivery';
import { NotificationsModule } from '../notifications';
import { ProfilesModule } from '../profiles';
import { ChannelPolicyRegistry, ChannelPresence, ClientEventRegistry, RealtimeModule, TypingRelay } from '../realtime';
import { Conversation } from './entities/conversation.entity';
import { Message } from './entities/message.entity';
import { Participant } from './entities/participant.entity';
import { MessagePush } from './message-push';
import { MessagingController } from './messaging.controller';
import { MessagingRepository } from './messaging.repository';
import { MESSAGE_NEW, MessagingService } from './messaging.service';

/**
 * Messaging: conversations, messages, read pointers, typing. Owns the `conversation:` channel
 * prefix and the `message:send` client event through realtime's registries.
 */
@Module({
  imports: [
    RealtimeModule,
    DeliveryModule,
    NotificationsModule,
    ProfilesModule,
    TypeOrmModule.forFeature([Conversation, Participant, Message]),
  ],
  controllers: [MessagingController],
  providers: [MessagingRepository, MessagingService, MessagePush],
  exports: [MessagingService],
})
export class MessagingModule implements OnModuleInit {
  constructor(
    private readonly policies: ChannelPolicyRegistry,
    private readonly clientEvents: ClientEventRegistry,
    private readonly messaging: MessagingService,
    private readonly outbox: OutboxService,
    private readonly channelPresence: ChannelPresence,
    private readonly typingRelay: TypingRelay,
    private readonly delivery: DeliveryService,
  ) {}

  onModuleInit(): void {
    this.policies.register('conversation:', (user, channel) => this.messaging.authorizeChannel(user, channel));
    // Subscribing to a conversation says who else has it open; then member:joined / member:left.
    this.channelPresence.enable('conversation:');
    // Typing in a conversation also reaches its participants' conversation lists (user rooms).
    this.typingRelay.audience('conversation:', (tenantId, channel) => this.messaging.typingAudience(tenantId, channel));
    this.outbox.register(MESSAGE_NEW, (row, path) => this.messaging.publishMessage(row, path));
    // Acknowledged delivery: `message:new` is `m:<message id>`; an acknowledgement moves the
    // recipient's delivered pointer; no acknowledgement in time pushes.
    this.delivery.registerEvent('message:new', 'message', (data) => data.id);
    this.delivery.onAcknowledged('message', (tenantId, acks) => this.messaging.acknowledged(tenantId, acks));
    this.delivery.onTimeout('message', (work) => this.messaging.pushFallback(work));
    // Payloads naming a conversation are messaging's; others (the activities app's `{text}`) go to
    // the host backend when the client-event proxy takes `message:send`.
    this.clientEvents.register(
      'message:send',
      async (ctx, data) => {
        const { message, duplicate } = await this.messaging.sendFromSocket(ctx.user, data);
        return { message, duplicate };
      },
      { accepts: (data) => typeof data === 'object' && data !== null && 'conversationId' in data },
    );
  }
}
