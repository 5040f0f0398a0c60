import { Injectable, OnModuleInit } from '@nestjs/common';
import { RealtimeService, userChannel } from '../realtime';
import { NotificationEvents } from './notification-events';

/**
 * Tells each inbox owner's open sockets (on any pod) about a new notification, as
 * `notification:new` on their `user:<id>` channel: the in-app counterpart of the push.
 */
@Injectable()
export class NotificationSocketsListener implements OnModuleInit {
  constructor(
    private readonly events: NotificationEvents,
    private readonly realtime: RealtimeService,
  ) {}

  onModuleInit(): void {
    this.events.onCreated(async (n) => {
      const payload = {
        id: n.notificationId,
        title: n.title,
        body: n.body,
        category: n.category,
        data: n.data,
        createdAt: n.createdAt.toISOString(),
      };
      await Promise.all(n.userIds.map((userId) => this.realtime.publish(n.tenantId, userChannel(userId), 'notification:new', payload)));
    });
  }
}
