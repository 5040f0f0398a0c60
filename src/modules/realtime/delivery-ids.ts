import { Injectable } from '@nestjs/common';

/**
 * The events whose recipients confirm them (acknowledged delivery, see the delivery module), and
 * how each names its delivery: `message:new` is `m:<message id>`, `notification:new` is
 * `n:<notification id>`. The id comes from the payload, so a live emit, a replay from the log and a
 * polled page all carry the same `meta.deliveryId` for every socket and device of the recipient.
 */
@Injectable()
export class DeliveryIds {
  private readonly idOf = new Map<string, (data: Record<string, unknown>) => string | undefined>();

  register(event: string, idOf: (data: Record<string, unknown>) => string | undefined): void {
    this.idOf.set(event, idOf);
  }

  of(event: string, data: unknown): string | undefined {
    const idOf = this.idOf.get(event);
    return idOf && typeof data === 'object' && data !== null ? idOf(data as Record<string, unknown>) : undefined;
  }

  /** The event's meta with its delivery id, when it has one. */
  meta<M extends object>(event: string, data: unknown, meta: M): M & { deliveryId?: string } {
    const deliveryId = this.of(event, data);
    return deliveryId ? { ...meta, deliveryId } : meta;
  }
}
