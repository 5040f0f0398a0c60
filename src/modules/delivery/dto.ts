import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, MaxLength } from 'class-validator';
import { MAX_ACK_IDS } from './delivery.service';

export class AckDto {
  @ApiProperty({
    description: "Delivery ids from `meta.deliveryId` (or a polled event's `deliveryId`)",
    example: ['m:7d1f0c2e-5b7a-4a43-9d55-2b1c1f0e8a11'],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ACK_IDS)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  ids: string[];
}

export class AckResponse {
  @ApiProperty({ description: 'Ids taken (ids that name no delivery are skipped)' }) acknowledged: number;
}

export class SocketDeliveryView {
  @ApiProperty({ enum: ['socketio', 'websocket', 'http'] }) transport: string;
  @ApiProperty({ format: 'date-time' }) acknowledgedAt: string;
}

export class PushDeliveryView {
  @ApiProperty({ enum: ['sent', 'failed', 'retrying', 'deactivated'] }) status: string;
  @ApiPropertyOptional({ nullable: true, description: 'The provider and its answer, e.g. `fcm: accepted`, `fcm: messaging/unavailable`' })
  detail: string | null;
  @ApiProperty({ format: 'date-time' }) at: string;
}

export class DeviceDeliveryView {
  @ApiPropertyOptional({ nullable: true, description: 'null: sockets that named no device (auth.deviceId)' }) deviceId: string | null;
  @ApiPropertyOptional({ nullable: true }) platform: string | null;
  @ApiPropertyOptional({ type: SocketDeliveryView, nullable: true }) socket: SocketDeliveryView | null;
  @ApiPropertyOptional({ type: PushDeliveryView, nullable: true }) push: PushDeliveryView | null;
}

export class RecipientDeliveryView {
  @ApiProperty() userId: string;
  @ApiProperty({
    enum: ['socket', 'push', 'never'],
    description: 'socket: a device acknowledged; push: a provider accepted a push; never: neither',
  })
  outcome: string;
  @ApiProperty({ type: [DeviceDeliveryView], description: 'Every active device of the recipient, plus any other named in a receipt' })
  devices: DeviceDeliveryView[];
}

export class DeliveriesResponse {
  @ApiProperty({ type: [RecipientDeliveryView] }) recipients: RecipientDeliveryView[];
}
