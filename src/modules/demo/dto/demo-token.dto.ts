import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { USER_ID_CHARACTERS, USER_ID_PATTERN } from '../../../core/auth/auth-user';

export class DemoTokenDto {
  @ApiProperty({ example: 'alice', description: `The demo user's id: 1-128 of ${USER_ID_CHARACTERS}` })
  @Matches(USER_ID_PATTERN, { message: `userId must be 1-128 of ${USER_ID_CHARACTERS}` })
  userId: string;
}

export class DemoTokenResponse {
  @ApiProperty({ description: 'An access token of tenant `demo` (roles MEMBER and LEADER), valid DEMO_TOKEN_TTL_SEC' }) token: string;
  @ApiProperty() userId: string;
  @ApiProperty({ example: 'demo' }) tenantId: string;
  @ApiProperty({ example: ['MEMBER', 'LEADER'] }) roles: string[];
  @ApiProperty({ format: 'date-time' }) expiresAt: string;
}
