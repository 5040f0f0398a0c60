/**
 * The notifications module's public surface: what other modules may import. notify() and the
 * events it raises; the fan-out and delivery jobs stay inside.
 */
export { NotificationsModule } from './notifications.module';
export { NotificationsService } from './notifications.service';
export type { NotifyInput, NotifyRecipients, NotifyResult, OfflineNotifyResult } from './notifications.service';
export { NotificationEvents } from './notification-events';
export type { NotificationCreated, NotificationListener } from './notification-events';
export { UnreadCounters } from './unread-counters';
export type { UnreadCounter } from './unread-counters';
export { CATEGORIES } from './notifications.constants';
export type { Category } from './notifications.constants';
