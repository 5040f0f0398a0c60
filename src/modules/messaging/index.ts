/**
 * The messaging module's public surface: what other modules may import. The service (what the
 * messaging app's route aliases in compat call) and the DTOs of its routes; the repository stays inside.
 */
export { MessagingModule } from './messaging.module';
export { MessagingService } from './messaging.service';
export type { SendOutcome } from './messaging.service';
export {
  ConversationPage,
  ConversationView,
  CreateConversationDto,
  ListConversationsQuery,
  MessagePage,
  MessagesQuery,
  MessageView,
  ReadStateView,
  SendMessageDto,
  StatusDto,
  TypingDto,
} from './dto/messaging.dto';
export type { ReceiptEvent } from './messaging.events';
