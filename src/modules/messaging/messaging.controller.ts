import { DeliveriesResponse } from '../delivery';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import {
  AddParticipantsDto,
  ConversationPage,
  ConversationView,
  CreateConversationDto,
  EditMessageDto,
  ListConversationsQuery,
  MessagePage,
  MessagesQuery,
  MessageView,
  MuteDto,
  ReadStateView,
  SendMessageDto,
  StatusDto,
  TypingDto,
} from './dto/messaging.dto';
import { MessagingService } from './messaging.service';

@ApiTags('messaging')
@ApiBearerAuth()
@ApiUnauthorizedResponse({
  type: ErrorResponse,
  description: 'Missing, invalid or expired access token',
})
@ApiNotFoundResponse({
  type: ErrorResponse,
  description: 'code `conversation_not_found`: no such conversation, or you are not a participant',
})
@Controller('conversations')
export class MessagingController {
  constructor(private readonly messaging: MessagingService) {}

  @Get()
  @ApiOperation({
    summary: 'Your conversations, most recent activity first, with the last message and unread count',
  })
  @ApiOkResponse({ type: ConversationPage })
  list(@CurrentUser() user: AuthUser, @Query() query: ListConversationsQuery): Promise<ConversationPage> {
    return this.messaging.list(user, query);
  }

  @Post()
  @ApiOperation({
    summary: 'Create a direct or group conversation',
    description: 'A direct conversation with the same user is returned (200) instead of created again (201).',
  })
  @ApiCreatedResponse({ type: ConversationView })
  @ApiOkResponse({
    type: ConversationView,
    description: 'The direct conversation already existed',
  })
  @ApiBadRequestResponse({
    type: ErrorResponse,
    description: 'code `validation_failed`',
  })
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateConversationDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ConversationView> {
    const { conversation, created } = await this.messaging.create(user, dto);
    res.status(created ? 201 : 200);
    return conversation;
  }

  @Get(':id')
  @ApiOperation({
    summary: 'One conversation with its participants and their read pointers',
  })
  @ApiOkResponse({ type: ConversationView })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<ConversationView> {
    return this.messaging.get(user, id);
  }

  @Post(':id/participants')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Add users to a group (admins), or bring back users who left',
  })
  @ApiOkResponse({ type: ConversationView })
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: 'code `not_conversation_admin`',
  })
  @ApiBadRequestResponse({
    type: ErrorResponse,
    description: 'codes `validation_failed`, `not_a_group`',
  })
  addParticipants(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: AddParticipantsDto): Promise<ConversationView> {
    return this.messaging.addParticipants(user, id, dto);
  }

  @Delete(':id/participants')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Leave the conversation (hidden for you, history kept)',
  })
  @ApiNoContentResponse()
  async leave(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<void> {
    await this.messaging.removeParticipant(user, id, user.userId);
  }

  @Delete(':id/participants/:userId')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Remove a participant (group admins), or leave (your own id)',
  })
  @ApiNoContentResponse()
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: 'code `not_conversation_admin`',
  })
  async removeParticipant(@CurrentUser() user: AuthUser, @Param('id') id: string, @Param('userId') userId: string): Promise<void> {
    await this.messaging.removeParticipant(user, id, userId);
  }

  @Put(':id/mute')
  @ApiOperation({
    summary: 'Mute pushes for this conversation until a time (null unmutes)',
  })
  @ApiOkResponse({ type: ConversationView })
  mute(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: MuteDto): Promise<ConversationView> {
    return this.messaging.mute(user, id, dto.until);
  }

  @Get(':id/messages')
  @ApiOperation({
    summary: 'Message history by seq: newest page, `before` (older) or `after` (catch-up)',
  })
  @ApiOkResponse({ type: MessagePage })
  messages(@CurrentUser() user: AuthUser, @Param('id') id: string, @Query() query: MessagesQuery): Promise<MessagePage> {
    return this.messaging.messages(user, id, query);
  }

  @Post(':id/messages')
  @ApiOperation({
    summary: 'Send a message',
    description: 'The same clientMessageId again returns the stored message (200) and sends nothing.',
  })
  @ApiCreatedResponse({ type: MessageView })
  @ApiOkResponse({
    type: MessageView,
    description: 'Already stored under this clientMessageId',
  })
  @ApiConflictResponse({
    type: ErrorResponse,
    description: 'code `client_message_id_conflict`',
  })
  async send(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Body() dto: SendMessageDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<MessageView> {
    const { message, duplicate } = await this.messaging.send(user, id, dto);
    res.status(duplicate ? 200 : 201);
    return message;
  }

  @Get(':id/messages/:messageId/deliveries')
  @ApiOperation({
    summary: 'What became of a message per recipient and device (its sender, or SERVICE/ADMIN)',
    description:
      'For each recipient, each device: acknowledged by a socket (when, over which transport), pushed (the ' +
      'provider\'s answer, when), or neither. Kept DELIVERY_RECEIPTS_RETENTION_HOURS. See README "Delivery".',
  })
  @ApiOkResponse({ type: DeliveriesResponse })
  async deliveries(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Param('messageId') messageId: string,
  ): Promise<DeliveriesResponse> {
    return { recipients: await this.messaging.deliveries(user, id, messageId) } as DeliveriesResponse;
  }

  @Post(':id/messages/status')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Mark messages delivered or read up to a seq (pointers only move forward)',
  })
  @ApiOkResponse({ type: ReadStateView })
  status(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: StatusDto): Promise<ReadStateView> {
    return this.messaging.status(user, id, dto);
  }

  @Patch(':id/messages/:messageId')
  @ApiOperation({ summary: 'Edit your message' })
  @ApiOkResponse({ type: MessageView })
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: 'code `not_message_sender`',
  })
  @ApiConflictResponse({
    type: ErrorResponse,
    description: 'code `message_deleted`',
  })
  edit(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Param('messageId') messageId: string,
    @Body() dto: EditMessageDto,
  ): Promise<MessageView> {
    return this.messaging.edit(user, id, messageId, dto);
  }

  @Delete(':id/messages/:messageId')
  @ApiOperation({
    summary: 'Delete your message (a tombstone without content stays)',
  })
  @ApiOkResponse({ type: MessageView })
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: 'code `not_message_sender`',
  })
  remove(@CurrentUser() user: AuthUser, @Param('id') id: string, @Param('messageId') messageId: string): Promise<MessageView> {
    return this.messaging.remove(user, id, messageId);
  }

  @Post(':id/typing')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Publish typing:start (or typing:stop with isTyping false) to the conversation',
  })
  async typing(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: TypingDto): Promise<{ ok: true }> {
    await this.messaging.typing(user, id, dto.isTyping ?? true);
    return { ok: true };
  }

  @Post(':id/read')
  @HttpCode(200)
  @ApiOperation({ summary: 'Mark the whole conversation read' })
  @ApiOkResponse({ type: ReadStateView })
  read(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<ReadStateView> {
    return this.messaging.markAllRead(user, id);
  }
}
