import { Injectable, Logger } from '@nestjs/common';
import type { Category } from './notifications.constants';

/** What listeners learn when notify() has written a notification (no device tokens). */
export interface NotificationCreated {
  notificationId: string;
  tenantId: string;
  /** Users who got an inbox entry (empty for role, topic and tenant sends). */
  userIds: string[];
  category: Category;
  priority: string;
  title: string | null;
  body: string | null;
  data: Record<string, string>;
  createdAt: Date;
}

export type NotificationListener = (event: NotificationCreated) => void | Promise<void>;

/**
 * Lets code react to new notifications without notify() knowing it, in this process, after the
 * commit: best effort, so nothing that must not be lost belongs here (the users' sockets get
 * `notification:new` through the outbox instead). A module that imports NotificationsModule may
 * listen (realtime does not: it knows no domain). A listener's failure is logged and never fails
 * notify().
 */
@Injectable()
export class NotificationEvents {
  private readonly logger = new Logger(NotificationEvents.name);
  private readonly listeners = new Set<NotificationListener>();

  /** Registers a listener; returns the function that removes it. */
  onCreated(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async emitCreated(event: NotificationCreated): Promise<void> {
    await Promise.all(
      [...this.listeners].map(async (listener) => {
        try {
          await listener(event);
        } catch (err) {
          this.logger.warn(`notification listener failed for ${event.notificationId}: ${(err as Error).message}`);
        }
      }),
    );
  }
}
