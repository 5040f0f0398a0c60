import { Module, OnModuleInit } from '@nestjs/common';
import { NotificationsModule } from '../notifications';
import { ClientEventRegistry, RealtimeModule } from '../realtime';
import { RoomEvents } from './room-events';
import { WebsocketControlController } from './websocket-control.controller';

/**
 * Shapes other integration guides use, over Tether's own services: the activities app's
 * `room:join`/`room:leave` socket events and the venues app's control endpoint. The bookings
 * app's push-token alias lives with devices.
 */
@Module({
  imports: [RealtimeModule, NotificationsModule],
  controllers: [WebsocketControlController],
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
