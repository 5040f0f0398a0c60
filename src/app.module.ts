import { DynamicModule, Module, Type } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { CoreModule } from './core/core.module';
import { CommunityModule } from './modules/community/community.module';
import { CompatModule } from './modules/compat/compat.module';
import { DeliveryModule } from './modules/delivery';
import { DemoModule } from './modules/demo';
import { DevicesModule } from './modules/devices/devices.module';
import { MessagingModule } from './modules/messaging/messaging.module';
import { NotificationsModule } from './modules/notifications/notifications.module';
import { ProfilesModule } from './modules/profiles';
import { RealtimeModule } from './modules/realtime/realtime.module';
import { SyncModule } from './modules/sync/sync.module';

/**
 * The application. Built from a validated config so that tests can boot several instances with
 * different settings in one process. Feature modules under modules/ are added to `imports`.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, extraModules: Type[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        CoreModule,
        RealtimeModule,
        DeliveryModule,
        DevicesModule,
        NotificationsModule,
        ProfilesModule,
        SyncModule,
        CommunityModule,
        MessagingModule,
        CompatModule,
        DemoModule.forRoot(config),
        ...extraModules,
      ],
    };
  }
}
