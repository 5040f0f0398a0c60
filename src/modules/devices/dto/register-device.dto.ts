import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IsTimeZone } from '../../../core/http/validators';
import { Platform, PLATFORMS } from '../push/push-sender';

export const MAX_TOKEN_LENGTH = 4096;

/** Seed 000 sends `{token, platform: Platform.OS, appVersion}`; the rest is optional. */
export class RegisterDeviceDto {
  @ApiProperty({ description: 'FCM registration token', maxLength: MAX_TOKEN_LENGTH, example: 'dGVzdC10b2tlbjpBUEE5MWJF...' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_TOKEN_LENGTH)
  @Matches(/^[\x21-\x7e]+$/, { message: 'token must be printable ASCII without spaces' })
  token: string;

  @ApiProperty({ enum: PLATFORMS, example: 'ios' })
  @IsIn(PLATFORMS)
  platform: Platform;

  @ApiPropertyOptional({ example: '1.0.0', maxLength: 64 })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  appVersion?: string;

  @ApiPropertyOptional({ description: 'BCP 47 language tag', example: 'en-GB' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,4}$/, { message: 'locale must be a language tag such as en-GB' })
  locale?: string;

  @ApiPropertyOptional({ description: 'IANA time zone', example: 'Europe/London' })
  @IsOptional()
  @IsTimeZone()
  timezone?: string;

  @ApiPropertyOptional({ description: 'Firebase Installation ID (kept for firebase-admin 14, which sends to it)' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,255}$/, { message: 'fid must be a Firebase Installation ID' })
  fid?: string;
}
