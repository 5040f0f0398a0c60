import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueModule, registerQueues } from '../../core/queue/queue.module';
import { DeviceTopicsService } from './device-topics.service';
import { DEVICES_QUEUE } from './devices.constants';
import { DevicesController } from './devices.controller';
import { DeviceMetrics } from './devices.metrics';
import { DevicesProcessor } from './devices.processor';
import { DevicesRepository } from './devices.repository';
import { DevicesService } from './devices.service';
import { Device } from './entities/device.entity';
import { PushSenders, pushSenderProvider } from './push/push-senders';

@Module({
  imports: [QueueModule, registerQueues(DEVICES_QUEUE), TypeOrmModule.forFeature([Device])],
  controllers: [DevicesController],
  providers: [
    DevicesRepository,
    DevicesService,
    DeviceTopicsService,
    DevicesProcessor,
    DeviceMetrics,
    pushSenderProvider,
    PushSenders,
  ],
  exports: [DevicesService, PushSenders],
})
export class DevicesModule {}
