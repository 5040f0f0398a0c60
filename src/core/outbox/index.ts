/** The outbox's surface for other modules (core: anyone may import it). */
export { OutboxModule } from './outbox.module';
export { OutboxService } from './outbox.service';
export type { OutboxTransaction } from './outbox.service';
export { channelKey } from './outbox.types';
export type { OutboxEntry, OutboxHandler, PublishPath, RecordedRow } from './outbox.types';
export { recordCtes, recordedJson } from './outbox.sql';
