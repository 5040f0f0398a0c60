import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { IsTimeZone } from '../../../core/http/validators';
import { Platform, PLATFORMS } from '../push/push-sender';
import { IsPushToken, providerOfToken } from '../push/push-tokens';

export const MAX_TOKEN_LENGTH = 4096;

/**
 * The church app sends `{token, platform: Platform.OS, appVersion}`; the rest is optional. An Expo push
 * token may come without a platform (Expo routes to APNs or FCM itself): it is stored as `unknown`.
 */
export class RegisterDeviceDto {
  @ApiProperty({
    description:
      'FCM registration token, or Expo push token (`ExponentPushToken[...]`, `ExpoPushToken[...]`); the provider follows from the form',
    maxLength: MAX_TOKEN_LENGTH,
    example: 'dGVzdC10b2tlbjpBUEE5MWJF...',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_TOKEN_LENGTH)
  @IsPushToken()
  token: string;

  @ApiPropertyOptional({ enum: PLATFORMS, example: 'ios', description: 'Required with an FCM token; optional with an Expo token' })
  @ValidateIf((o: RegisterDeviceDto) => o.platform !== undefined || providerOfToken(String(o.token)) !== 'expo')
  @IsIn(PLATFORMS)
  platform?: Platform;

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
