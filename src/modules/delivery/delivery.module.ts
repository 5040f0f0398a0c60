import { Module } from '@nestjs/common';
import { RealtimeModule } from '../realtime';
import { DeliveryController } from './delivery.controller';
import { DeliveryReceiptsRepository } from './delivery-receipts.repository';
import { DeliveryTracker } from './delivery-tracker';
import { DeliveryMetrics } from './delivery.metrics';
import { DeliveryService } from './delivery.service';

/** Acknowledged delivery: acknowledgements, the fallback push's waiting, per-device receipts (README "Delivery"). */
@Module({
  imports: [RealtimeModule],
  controllers: [DeliveryController],
  providers: [DeliveryService, DeliveryTracker, DeliveryReceiptsRepository, DeliveryMetrics],
  exports: [DeliveryService],
})
export class DeliveryModule {}
