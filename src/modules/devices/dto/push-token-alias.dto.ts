import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { Platform, PLATFORMS } from '../push/push-sender';
import { IsPushToken, providerOfToken } from '../push/push-tokens';
import { MAX_TOKEN_LENGTH, RegisterDeviceDto } from './register-device.dto';

/**
 * The bookings app's body, `{"push_token": "ExponentPushToken[...]"}`, with the optional metadata of
 * POST /devices/register. With the token in the path, `push_token` comes from there.
 */
export class PushTokenAliasDto extends PickType(RegisterDeviceDto, ['appVersion', 'locale', 'timezone'] as const) {
  @ApiProperty({ description: 'Expo push token (or FCM registration token)', example: 'ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_TOKEN_LENGTH)
  @IsPushToken()
  push_token: string;

  @ApiPropertyOptional({ enum: PLATFORMS, description: 'Required with an FCM token; an Expo token without one is stored as `unknown`' })
  @ValidateIf((o: PushTokenAliasDto) => o.platform !== undefined || providerOfToken(String(o.push_token)) !== 'expo')
  @IsIn(PLATFORMS)
  platform?: Platform;
}
