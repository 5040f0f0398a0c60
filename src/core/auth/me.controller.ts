import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponse } from '../http/error-response.dto';
import { CurrentUser } from './auth.decorators';
import type { AuthUser } from './auth-user';

class MeResponse {
  @ApiProperty() userId: string;
  @ApiProperty() tenantId: string;
  @ApiProperty({ type: [String], example: ['MEMBER'] }) roles: string[];
  @ApiProperty({ format: 'date-time' }) tokenExpiresAt: string;
}

@ApiTags('auth')
@ApiBearerAuth()
@Controller('me')
export class MeController {
  @Get()
  @ApiOperation({ summary: 'Who the access token says the caller is' })
  @ApiOkResponse({ type: MeResponse })
  @ApiUnauthorizedResponse({ type: ErrorResponse })
  me(@CurrentUser() user: AuthUser): MeResponse {
    return {
      userId: user.userId,
      tenantId: user.tenantId,
      roles: user.roles,
      tokenExpiresAt: user.expiresAt.toISOString(),
    };
  }
}
