// The demo module's public surface.
export { DemoModule } from './demo.module';
export { DEMO_PATH } from './demo-page.controller';
