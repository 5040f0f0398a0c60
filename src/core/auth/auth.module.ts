import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtAuthGuard, RolesGuard } from './auth.guards';
import { MeController } from './me.controller';
import { TokenVerifier } from './token-verifier.service';

@Global()
@Module({
  controllers: [MeController],
  providers: [
    TokenVerifier,
    // Order matters: authenticate first, then check roles.
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
  exports: [TokenVerifier],
})
export class AuthModule {}
