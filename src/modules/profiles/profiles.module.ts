import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TokenVerifier } from '../../core/auth/token-verifier.service';
import { UserProfile } from './entities/user-profile.entity';
import { ProfilesController } from './profiles.controller';
import { ProfilesRepository } from './profiles.repository';
import { ProfilesService } from './profiles.service';

/** Users' display names (user_profiles): set by the host, remembered from tokens, or named by other modules. */
@Module({
  imports: [TypeOrmModule.forFeature([UserProfile])],
  controllers: [ProfilesController],
  providers: [ProfilesRepository, ProfilesService],
  exports: [ProfilesService],
})
export class ProfilesModule implements OnModuleInit {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly profiles: ProfilesService,
  ) {}

  onModuleInit(): void {
    this.verifier.onVerified((user) => this.profiles.remember(user));
  }
}
