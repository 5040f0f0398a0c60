import { Module } from '@nestjs/common';
import { NotificationsModule } from '../notifications';
import { RealtimeModule } from '../realtime/realtime.module';
import { WebsocketControlController } from './websocket-control.controller';

/**
 * Routes in the shapes other integration guides use, over Tether's own services (the venues
 * app's control endpoint). The bookings app's push-token alias lives with devices.
 */
@Module({
  imports: [RealtimeModule, NotificationsModule],
  controllers: [WebsocketControlController],
})
export class CompatModule {}
