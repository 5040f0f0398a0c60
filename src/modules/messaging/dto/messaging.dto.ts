import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  Max,
  ValidateIf,
  IsBoolean,
} from 'class-validator';
import {
  CLIENT_MESSAGE_ID,
  DEFAULT_PAGE,
  MAX_CONTENT_LENGTH,
  MAX_GROUP_PARTICIPANTS,
  MAX_PAGE,
  MAX_STATUS_MESSAGE_IDS,
} from '../messaging.constants';
import { USER_ID_CHARACTERS, USER_ID_PATTERN } from '../../../core/auth/auth-user';

export class CreateConversationDto {
  @ApiProperty({ enum: ['direct', 'group'] })
  @IsIn(['direct', 'group'])
  type: 'direct' | 'group';

  @ApiProperty({
    type: [String],
    description: 'The other user (direct), or the members besides you (group)',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_GROUP_PARTICIPANTS)
  @IsString({ each: true })
  @Matches(USER_ID_PATTERN, {
    each: true,
    message: `each participant id must be 1-128 of ${USER_ID_CHARACTERS}`,
  })
  participantIds: string[];

  @ApiPropertyOptional({ maxLength: 200, description: 'Groups only' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  title?: string;
}

export class AddParticipantsDto {
  @ApiProperty({ type: [String] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_GROUP_PARTICIPANTS)
  @IsString({ each: true })
  @Matches(USER_ID_PATTERN, {
    each: true,
    message: `each user id must be 1-128 of ${USER_ID_CHARACTERS}`,
  })
  userIds: string[];
}

export class ListConversationsQuery {
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^[0-9]{1,19}_[0-9a-f-]{36}$/, {
    message: 'cursor must be a nextCursor value',
  })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

export class MessagesQuery {
  @ApiPropertyOptional({
    description: 'Messages with a seq lower than this (older page)',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;

  @ApiPropertyOptional({
    description: 'Messages with a seq higher than this (catch-up)',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE)
  limit?: number;
}

export class SendMessageDto {
  @ApiPropertyOptional({
    description:
      'Chosen by the client (e.g. a UUID), unique per sender: a resend with the same id returns the stored message. Generated when absent.',
    maxLength: 64,
  })
  @IsOptional()
  @IsString()
  @Matches(CLIENT_MESSAGE_ID, {
    message: 'clientMessageId must be 1-64 characters of A-Z a-z 0-9 _ . : -',
  })
  clientMessageId?: string;

  @ApiProperty({ maxLength: MAX_CONTENT_LENGTH })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_CONTENT_LENGTH)
  content: string;

  @ApiPropertyOptional({
    enum: ['text'],
    default: 'text',
    description: 'Attachments will add kinds',
  })
  @IsOptional()
  @IsIn(['text'])
  kind?: 'text';
}

/** `message:send` over the socket. */
export class SocketSendDto extends SendMessageDto {
  @IsString()
  @IsNotEmpty()
  conversationId: string;
}

export class EditMessageDto {
  @ApiProperty({ maxLength: MAX_CONTENT_LENGTH })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_CONTENT_LENGTH)
  content: string;
}

/** One of `upToSeq`, `messageId` or `messageIds` (the service checks that exactly one is given). */
export class StatusDto {
  @ApiProperty({ enum: ['delivered', 'read'] })
  @IsIn(['delivered', 'read'])
  status: 'delivered' | 'read';

  @ApiPropertyOptional({
    description: 'Every message up to this seq (capped at the newest)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  upToSeq?: number;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'This message and every earlier one (the pointer moves to its seq); 404 `message_not_found` if not in this conversation',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  messageId?: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_STATUS_MESSAGE_IDS,
    description: 'These messages and every earlier one (the pointer moves to the highest seq among them); 404 if any is unknown',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_STATUS_MESSAGE_IDS)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  messageIds?: string[];
}

export class TypingDto {
  @ApiPropertyOptional({
    default: true,
    description: 'false sends typing:stop',
  })
  @IsOptional()
  @IsBoolean()
  isTyping?: boolean;
}

export class MuteDto {
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    description: 'null unmutes',
  })
  @ValidateIf((o: MuteDto) => o.until !== null)
  @IsISO8601({ strict: true })
  until: string | null;
}

export class MessageView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) conversationId: string;
  @ApiProperty() seq: number;
  @ApiProperty() senderId: string;
  @ApiProperty() clientMessageId: string;
  @ApiProperty() kind: string;
  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description: 'null once deleted',
  })
  content: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiPropertyOptional({ nullable: true, type: String, format: 'date-time' })
  editedAt: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, format: 'date-time' })
  deletedAt: string | null;
  @ApiPropertyOptional({
    enum: ['sent', 'delivered', 'read'],
    description: "Your own messages: the recipients' state",
  })
  status?: 'sent' | 'delivered' | 'read';
}

export class ParticipantView {
  @ApiProperty() userId: string;
  @ApiProperty({ enum: ['admin', 'member'] }) role: string;
  @ApiProperty({ format: 'date-time' }) joinedAt: string;
  @ApiProperty() lastDeliveredSeq: number;
  @ApiProperty() lastReadSeq: number;
}

export class ConversationView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['direct', 'group'] }) type: string;
  @ApiPropertyOptional({ nullable: true, type: String }) title: string | null;
  @ApiProperty() createdBy: string;
  @ApiProperty({ description: 'seq of the newest message' }) lastSeq: number;
  @ApiProperty({ format: 'date-time' }) lastActivityAt: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ enum: ['admin', 'member'], description: 'Your role' })
  role: string;
  @ApiProperty() unreadCount: number;
  @ApiProperty() lastReadSeq: number;
  @ApiProperty() lastDeliveredSeq: number;
  @ApiPropertyOptional({ nullable: true, type: String, format: 'date-time' })
  mutedUntil: string | null;
  @ApiProperty({ type: [String] }) participantIds: string[];
  @ApiPropertyOptional({ type: MessageView, nullable: true })
  lastMessage?: MessageView | null;
  @ApiPropertyOptional({
    type: [ParticipantView],
    description: 'GET /conversations/:id only',
  })
  participants?: ParticipantView[];
}

export class ConversationPage {
  @ApiProperty({ type: [ConversationView] }) items: ConversationView[];
  @ApiPropertyOptional({ nullable: true, type: String }) nextCursor: string | null;
  @ApiProperty() hasMore: boolean;
}

export class MessagePage {
  @ApiProperty({ type: [MessageView], description: 'Ascending by seq' })
  messages: MessageView[];
  @ApiProperty({
    description: 'More messages beyond this page in the direction asked',
  })
  hasMore: boolean;
  @ApiProperty() lastSeq: number;
  @ApiProperty({
    description: 'Every other active participant has received up to here',
  })
  deliveredUpToSeq: number;
  @ApiProperty({
    description: 'Every other active participant has read up to here',
  })
  readUpToSeq: number;
}

export class ReadStateView {
  @ApiProperty({ format: 'uuid' }) conversationId: string;
  @ApiProperty() lastDeliveredSeq: number;
  @ApiProperty() lastReadSeq: number;
  @ApiProperty() unreadCount: number;
}
