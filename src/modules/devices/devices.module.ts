import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueModule, registerQueues } from '../../core/queue/queue.module';
import { DevicePushService } from './device-push.service';
import { DeviceTopicsService } from './device-topics.service';
import { DevicesController } from './devices.controller';
import { DEVICES_QUEUE } from './devices.jobs';
import { DeviceMetrics } from './devices.metrics';
import { DevicesProcessor } from './devices.processor';
import { DevicesRepository } from './devices.repository';
import { DevicesService } from './devices.service';
import { Device } from './entities/device.entity';
import { PushTokenAliasController } from './push-token-alias.controller';
import { ExpoPushTicket } from './entities/expo-push-ticket.entity';
import { ExpoReceiptsRepository } from './expo-receipts.repository';
import { ExpoReceiptsService } from './expo-receipts.service';
import { expoPushSenderProvider, PushSenders, pushSenderProvider } from './push/push-senders';

@Module({
  imports: [QueueModule, registerQueues(DEVICES_QUEUE), TypeOrmModule.forFeature([Device, ExpoPushTicket])],
  controllers: [DevicesController, PushTokenAliasController],
  providers: [
    DevicesRepository,
    DevicesService,
    DevicePushService,
    DeviceTopicsService,
    ExpoReceiptsRepository,
    ExpoReceiptsService,
    DevicesProcessor,
    DeviceMetrics,
    pushSenderProvider,
    expoPushSenderProvider,
    PushSenders,
  ],
  exports: [DevicesService, DevicePushService],
})
export class DevicesModule {}
