import { DynamicModule, Module, Type } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { DemoPageController } from './demo-page.controller';
import { DemoTokenController } from './demo-token.controller';
import { DemoTokenService } from './demo-token.service';

/**
 * The demo page at /demo (DEMO_ENABLED) and, outside production only, the route that mints demo
 * tokens. Routes are mounted or not from the config at boot: a production app has no token route
 * at all, whatever DEMO_ENABLED says.
 */
@Module({})
export class DemoModule {
  static forRoot(config: AppConfig): DynamicModule {
    const { enabled, tokenRoute } = config.demo;
    const controllers: Type[] = [];
    if (enabled) controllers.push(DemoPageController);
    if (tokenRoute) controllers.push(DemoTokenController);
    return { module: DemoModule, controllers, providers: tokenRoute ? [DemoTokenService] : [] };
  }
}
