import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { DeliveryService } from './delivery.service';
import { AckDto, AckResponse } from './dto';

@ApiTags('delivery')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@Controller('deliveries')
export class DeliveryController {
  constructor(private readonly delivery: DeliveryService) {}

  @Post('ack')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Acknowledge deliveries received by polling (or by an app a push woke up)',
    description:
      'The same as `delivery:ack` on the socket: each id (`meta.deliveryId` of an event, `deliveryId` of a polled one) ' +
      "confirms that one of the caller's devices has the message or notification: its fallback push is not sent, a " +
      "message's delivered pointer moves. `X-Device-Id` names the device in the receipts.",
  })
  @ApiOkResponse({ type: AckResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  async ack(@CurrentUser() user: AuthUser, @Body() dto: AckDto, @Headers('x-device-id') device?: string): Promise<AckResponse> {
    const deviceId = device && device.length <= 64 ? device : undefined;
    return { acknowledged: await this.delivery.acknowledge({ user, deviceId, transport: 'http' }, dto.ids) };
  }
}
