import { Module, OnModuleInit } from '@nestjs/common';
import { MessagingModule } from '../messaging';
import { NotificationsModule } from '../notifications';
import { ClientEventRegistry, RealtimeModule } from '../realtime';
import { MessagingAliasController } from './messaging-alias.controller';
import { RoomEvents } from './room-events';
import { WebsocketControlController } from './websocket-control.controller';

/**
 * Shapes other integration guides use, over Tether's own services: the activities app's
 * `room:join`/`room:leave` socket events, the venues app's control endpoint and the messaging
 * app's `/api/conversations` routes. The bookings app's push-token alias lives with devices.
 */
@Module({
  imports: [RealtimeModule, NotificationsModule, MessagingModule],
  controllers: [WebsocketControlController, MessagingAliasController],
  providers: [RoomEvents],
})
export class CompatModule implements OnModuleInit {
  constructor(
    private readonly clientEvents: ClientEventRegistry,
    private readonly rooms: RoomEvents,
  ) {}

  onModuleInit(): void {
    this.clientEvents.register('room:join', (ctx, data) => this.rooms.join(ctx, data));
    this.clientEvents.register('room:leave', (ctx, data) => this.rooms.leave(ctx, data));
  }
}
