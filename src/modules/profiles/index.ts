/** The profiles module's public surface: display names (ProfilesService) and its module. */
export { ProfilesModule } from './profiles.module';
export { ProfilesService } from './profiles.service';
export type { NameLookup, ResolvedName } from './profiles.service';
