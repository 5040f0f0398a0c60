import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueModule, registerQueues } from '../../core/queue/queue.module';
import { DeliveryModule } from '../delivery';
import { DevicesModule } from '../devices';
import { RealtimeModule } from '../realtime';
import { AdminNotifyController } from './admin-notify.controller';
import { InboxEntry } from './entities/inbox-entry.entity';
import { NotificationPreferences } from './entities/notification-preferences.entity';
import { Notification } from './entities/notification.entity';
import { NotificationEvents } from './notification-events';
import { DELIVERY_QUEUE, NOTIFICATIONS_QUEUE } from './notifications.jobs';
import { NotificationMetrics } from './notifications.metrics';
import { NotificationsController } from './notifications.controller';
import { NotificationsProcessor } from './notifications.processor';
import { NotificationsRepository } from './notifications.repository';
import { NotificationsService } from './notifications.service';
import { NotificationsSweeper } from './notifications.sweeper';
import { PushDeliveryProcessor } from './push-delivery.processor';
import { UnreadCounters } from './unread-counters';

@Module({
  imports: [
    QueueModule,
    registerQueues(NOTIFICATIONS_QUEUE, DELIVERY_QUEUE),
    DevicesModule,
    DeliveryModule,
    RealtimeModule,
    TypeOrmModule.forFeature([Notification, InboxEntry, NotificationPreferences]),
  ],
  controllers: [NotificationsController, AdminNotifyController],
  providers: [
    NotificationsRepository,
    NotificationsService,
    NotificationEvents,
    NotificationsSweeper,
    NotificationMetrics,
    NotificationsProcessor,
    PushDeliveryProcessor,
    UnreadCounters,
  ],
  exports: [NotificationsService, NotificationEvents, UnreadCounters],
})
export class NotificationsModule {}
