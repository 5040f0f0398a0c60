export { IdempotencyCleaner } from './idempotency.cleaner';
export { documentIdempotencyKey } from './idempotency.openapi';
export { IDEMPOTENCY_HEADER, REPLAYED_HEADER } from './idempotency-key';
export { IdempotencyModule } from './idempotency.module';
