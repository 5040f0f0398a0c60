import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { CurrentUser, ServerApi } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { ProfileResponse, PutProfileDto, UserIdParams } from './dto/profile.dto';
import { ProfilesService } from './profiles.service';

/** The host names its users for what Tether shows on its own (the sender of a message push). */
@ServerApi()
@Controller('users/:userId/profile')
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Put()
  @ApiOperation({
    summary: "Set the user's display name (first in the order: host, token name, member, user id)",
    description: '`{displayName: null}` removes it. Answers the name now in effect.',
  })
  @ApiOkResponse({ type: ProfileResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  async put(@CurrentUser() user: AuthUser, @Param() p: UserIdParams, @Body() dto: PutProfileDto): Promise<ProfileResponse> {
    const resolved = await this.profiles.setDisplayName(user.tenantId, p.userId, dto.displayName);
    return { userId: p.userId, ...resolved };
  }

  @Get()
  @ApiOperation({ summary: "The user's display name as pushes show it, and where it comes from" })
  @ApiOkResponse({ type: ProfileResponse })
  async get(@CurrentUser() user: AuthUser, @Param() p: UserIdParams): Promise<ProfileResponse> {
    const resolved = (await this.profiles.resolve(user.tenantId, [p.userId])).get(p.userId)!;
    return { userId: p.userId, ...resolved };
  }
}
