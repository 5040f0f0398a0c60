import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Device } from '../entities/device.entity';
import { DEVICE_PLATFORMS, PUSH_PROVIDERS } from '../push/push-sender';

export class DeviceResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: DEVICE_PLATFORMS }) platform: string;
  @ApiProperty({ enum: PUSH_PROVIDERS, description: "Push provider that carries this device (from the token's form)" }) provider: string;
  @ApiProperty() token: string;
  @ApiPropertyOptional({ nullable: true, type: String }) appVersion: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) locale: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) timezone: string | null;
  @ApiProperty({ description: 'False once the provider reported the token dead; registering it again reactivates it' })
  active: boolean;
  @ApiPropertyOptional({ nullable: true, type: String, example: 'messaging/registration-token-not-registered' })
  deactivationReason: string | null;
  @ApiProperty({ format: 'date-time' }) lastSeenAt: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;

  static of(d: Device): DeviceResponse {
    return {
      id: d.id,
      platform: d.platform,
      provider: d.provider,
      token: d.token,
      appVersion: d.appVersion,
      locale: d.locale,
      timezone: d.timezone,
      active: d.deactivatedAt === null,
      deactivationReason: d.deactivationReason,
      lastSeenAt: new Date(d.lastSeenAt).toISOString(),
      createdAt: new Date(d.createdAt).toISOString(),
    };
  }
}

export class DeviceListResponse {
  @ApiProperty({ type: [DeviceResponse] }) devices: DeviceResponse[];
}
