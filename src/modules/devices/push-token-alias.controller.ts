import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Throttle } from '@nestjs/throttler';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { createValidationPipe } from '../../core/http/validation';
import { DEVICE_REGISTER_THROTTLE } from './devices.constants';
import { DevicesService } from './devices.service';
import { DeviceResponse } from './dto/device.response';
import { PushTokenAliasDto } from './dto/push-token-alias.dto';

/** The bookings app's route, kept outside the api/mobile/v1 prefix (app.setup.ts excludes it). */
export const PUSH_TOKEN_ALIAS_PATH = 'api/v1/users/push-token';

const validation = createValidationPipe();

/**
 * The bookings app's "Update Push Token" call, for Expo apps that already make it: the same registration
 * as POST /api/mobile/v1/devices/register (auth, validation, shared rate limit, error shape).
 */
@ApiTags('devices')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@Controller(PUSH_TOKEN_ALIAS_PATH)
export class PushTokenAliasController {
  constructor(private readonly devices: DevicesService) {}

  @Post([':pushToken', ''])
  @HttpCode(200)
  @Throttle(DEVICE_REGISTER_THROTTLE)
  @ApiOperation({
    summary: "Register the caller's push token (the bookings app's alias of POST /api/mobile/v1/devices/register)",
    description:
      'The token goes in the path (`/api/v1/users/push-token/ExponentPushToken[...]`) or in the body as ' +
      '`push_token`; a token in the path wins. `platform` is optional with an Expo token.',
  })
  @ApiBody({ type: PushTokenAliasDto, required: false })
  @ApiOkResponse({ type: DeviceResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  @ApiTooManyRequestsResponse({ type: ErrorResponse, description: 'code `rate_limited` (5 per minute per user, with /devices/register)' })
  async register(
    @CurrentUser() user: AuthUser,
    // Validated below, once the path token is merged in, by the app's own pipe (same error shape).
    @Body() body: Record<string, unknown> | undefined,
    @Param('pushToken') pushToken?: string,
  ): Promise<DeviceResponse> {
    const input = { ...(body ?? {}), ...(pushToken !== undefined ? { push_token: pushToken } : {}) };
    const dto = (await validation.transform(input, { type: 'body', metatype: PushTokenAliasDto })) as PushTokenAliasDto;
    const { device } = await this.devices.register(user, {
      token: dto.push_token,
      platform: dto.platform,
      appVersion: dto.appVersion,
      locale: dto.locale,
      timezone: dto.timezone,
    });
    return DeviceResponse.of(device);
  }
}
