/** The delivery module's public surface (acknowledged delivery). */
export { DeliveryModule } from './delivery.module';
export { DeliveryService } from './delivery.service';
export type { Audience, RecipientDelivery } from './delivery.service';
export { deliveryId } from './delivery.types';
export type { Acknowledgement, FallbackWork, PushReceipt, SubjectKind } from './delivery.types';
export { DeliveriesResponse } from './dto';
