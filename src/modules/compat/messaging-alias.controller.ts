import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
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
  ConversationPage,
  ConversationView,
  CreateConversationDto,
  ListConversationsQuery,
  MessagePage,
  MessagesQuery,
  MessageView,
  MessagingService,
  ReadStateView,
  SendMessageDto,
  StatusDto,
  TypingDto,
} from '../messaging';

/** The messaging app's routes, kept outside the api/mobile/v1 prefix (app.setup.ts excludes it). */
export const MESSAGING_ALIAS_PATH = 'api/conversations';

/**
 * The messaging app's REST calls, at the paths its client already uses: each is the route of the
 * same name under /api/mobile/v1/conversations (same auth, validation, bodies, answers and error
 * shape; Idempotency-Key works the same). The guide names no other body or answer, so none is mapped.
 */
@ApiTags('messaging')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
@ApiNotFoundResponse({ type: ErrorResponse, description: 'code `conversation_not_found` (or `message_not_found` for a status)' })
@Controller(MESSAGING_ALIAS_PATH)
export class MessagingAliasController {
  constructor(private readonly messaging: MessagingService) {}

  @Get()
  @ApiOperation({ summary: "Your conversations (the messaging app's alias of GET /api/mobile/v1/conversations)" })
  @ApiOkResponse({ type: ConversationPage })
  list(@CurrentUser() user: AuthUser, @Query() query: ListConversationsQuery): Promise<ConversationPage> {
    return this.messaging.list(user, query);
  }

  @Post()
  @ApiOperation({ summary: "Create a conversation (the messaging app's alias of POST /api/mobile/v1/conversations)" })
  @ApiCreatedResponse({ type: ConversationView })
  @ApiOkResponse({ type: ConversationView, description: 'The direct conversation already existed' })
  async create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateConversationDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ConversationView> {
    const { conversation, created } = await this.messaging.create(user, dto);
    res.status(created ? 201 : 200);
    return conversation;
  }

  @Get(':id/messages')
  @ApiOperation({ summary: "Message history (the messaging app's alias of GET /api/mobile/v1/conversations/:id/messages)" })
  @ApiOkResponse({ type: MessagePage })
  messages(@CurrentUser() user: AuthUser, @Param('id') id: string, @Query() query: MessagesQuery): Promise<MessagePage> {
    return this.messaging.messages(user, id, query);
  }

  @Post(':id/messages')
  @ApiOperation({ summary: "Send a message (the messaging app's alias of POST /api/mobile/v1/conversations/:id/messages)" })
  @ApiCreatedResponse({ type: MessageView })
  @ApiOkResponse({ type: MessageView, description: 'Already stored under this clientMessageId' })
  @ApiConflictResponse({ type: ErrorResponse, description: 'code `client_message_id_conflict`' })
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

  @Post(':id/messages/status')
  @HttpCode(200)
  @ApiOperation({
    summary: "Mark messages delivered or read (the messaging app's alias of POST /api/mobile/v1/conversations/:id/messages/status)",
    description: '`{status, upToSeq}`, `{status, messageId}` or `{status, messageIds}`',
  })
  @ApiOkResponse({ type: ReadStateView })
  status(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: StatusDto): Promise<ReadStateView> {
    return this.messaging.status(user, id, dto);
  }

  @Post(':id/typing')
  @HttpCode(200)
  @ApiOperation({ summary: "Typing indicator (the messaging app's alias of POST /api/mobile/v1/conversations/:id/typing)" })
  async typing(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() dto: TypingDto): Promise<{ ok: true }> {
    await this.messaging.typing(user, id, dto.isTyping ?? true);
    return { ok: true };
  }
}
