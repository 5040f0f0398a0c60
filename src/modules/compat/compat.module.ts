import { Module } from '@nestjs/common';
import { NotificationsModule } from '../notifications';
import { RealtimeModule } from '../realtime/realtime.module';
import { WebsocketControlController } from './websocket-control.controller';

/**
 * Routes in the shapes other integration guides use, over Tether's own services (seed 004's
 * control endpoint). Seed 003's push-token alias lives with devices.
 */
@Module({
  imports: [RealtimeModule, NotificationsModule],
  controllers: [WebsocketControlController],
})
export class CompatModule {}
