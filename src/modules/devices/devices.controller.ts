import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
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
import { DEVICE_REGISTER_THROTTLE } from './devices.constants';
import { DevicesService } from './devices.service';
import { DeviceListResponse, DeviceResponse } from './dto/device.response';
import { RegisterDeviceDto } from './dto/register-device.dto';

@ApiTags('devices')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@Controller('devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Post('register')
  @HttpCode(200)
  @Throttle(DEVICE_REGISTER_THROTTLE)
  @ApiOperation({
    summary: 'Register (or refresh) this device for push notifications',
    description:
      'Upserts on the token: registering it again updates lastSeenAt and metadata; a token registered by ' +
      'another user moves to that user. The provider follows from the token: `ExponentPushToken[...]` and ' +
      '`ExpoPushToken[...]` are Expo, anything else FCM. An FCM device is subscribed in the background to the ' +
      "FCM topics of its tenant and of each of the user's roles.",
  })
  @ApiOkResponse({ type: DeviceResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  @ApiTooManyRequestsResponse({ type: ErrorResponse, description: 'code `rate_limited` (5 per minute per user)' })
  async register(@CurrentUser() user: AuthUser, @Body() dto: RegisterDeviceDto): Promise<DeviceResponse> {
    const { device } = await this.devices.register(user, dto);
    return DeviceResponse.of(device);
  }

  @Get()
  @ApiOperation({ summary: "The caller's devices" })
  @ApiOkResponse({ type: DeviceListResponse })
  async list(@CurrentUser() user: AuthUser): Promise<DeviceListResponse> {
    return { devices: (await this.devices.list(user)).map(DeviceResponse.of) };
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: "Remove one of the caller's devices (logout): no more pushes to it" })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: "code `device_not_found` (also for another user's device)" })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<void> {
    await this.devices.remove(user, id);
  }
}
