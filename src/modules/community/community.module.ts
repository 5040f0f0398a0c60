import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from '../notifications';
import { ProfilesModule, ProfilesService } from '../profiles';
import { ChannelPolicyRegistry, RealtimeModule } from '../realtime';
import { SyncModule, SyncRegistry } from '../sync';
import { CommunitySyncController } from './community-sync.controller';
import { CommunityController } from './community.controller';
import { CommunityRepository } from './community.repository';
import { CommunityService } from './community.service';
import { registerCommunitySync } from './community.sync';
import { Announcement } from './entities/announcement.entity';
import { Checkin } from './entities/checkin.entity';
import { EventInvite } from './entities/event-invite.entity';
import { CommunityEvent } from './entities/event.entity';
import { Member } from './entities/member.entity';
import { Rsvp } from './entities/rsvp.entity';
import { ScheduledService } from './entities/service.entity';
import { MemberEnrollmentInterceptor } from './member-enrollment.interceptor';

/**
 * The reference domain: members, events, RSVPs, services, check-ins, announcements. Registers its
 * collections and offline mutations with sync, publishes counts and announcements through realtime.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([Member, CommunityEvent, EventInvite, Rsvp, ScheduledService, Checkin, Announcement]),
    SyncModule,
    RealtimeModule,
    NotificationsModule,
    ProfilesModule,
  ],
  controllers: [CommunityController, CommunitySyncController],
  providers: [CommunityRepository, CommunityService, MemberEnrollmentInterceptor],
  exports: [CommunityService],
})
export class CommunityModule implements OnModuleInit {
  constructor(
    private readonly registry: SyncRegistry,
    private readonly community: CommunityService,
    private readonly policies: ChannelPolicyRegistry,
    private readonly profiles: ProfilesService,
  ) {}

  onModuleInit(): void {
    // A site's counts and announcements: its members, leaders, admins and the host.
    this.policies.register('site:', (user, channel) => this.community.authorizeSite(user, channel.id));
    registerCommunitySync(this.registry, this.community);
    this.registry.beforeRead((caller) => this.community.ensureMember(caller));
    // A member's display name names them in message pushes when neither the host nor a token did.
    this.profiles.registerNameSource((tenantId, userIds) => this.community.memberNames(tenantId, userIds));
  }
}
