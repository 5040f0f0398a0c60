import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { USER_ID_CHARACTERS, USER_ID_PATTERN } from '../../../core/auth/auth-user';

export const DISPLAY_NAME_MAX = 100;

export class UserIdParams {
  @ApiProperty({ example: 'user-123' })
  @Matches(USER_ID_PATTERN, { message: `userId must be a user id (1-128 of ${USER_ID_CHARACTERS})` })
  userId: string;
}

/** PUT /users/:userId/profile. */
export class PutProfileDto {
  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: DISPLAY_NAME_MAX,
    example: 'Ada Lovelace',
    description: 'The name message pushes show for this user; null removes it (the token’s name or the member’s is used again)',
  })
  @ValidateIf((o: PutProfileDto) => o.displayName !== null)
  @IsString()
  @MinLength(1)
  @MaxLength(DISPLAY_NAME_MAX)
  @Matches(/\S/, { message: 'displayName must not be blank' })
  displayName: string | null;
}

export const NAME_SOURCES = ['host', 'token', 'member', 'userId'] as const;
export type NameSource = (typeof NAME_SOURCES)[number];

export class ProfileResponse {
  @ApiProperty({ example: 'user-123' }) userId: string;
  @ApiProperty({ example: 'Ada Lovelace', description: 'The name pushes show: the first of host, token, member, else the user id' })
  displayName: string;
  @ApiProperty({ enum: NAME_SOURCES, description: 'Where displayName comes from' }) source: NameSource;
}
