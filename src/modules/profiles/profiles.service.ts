import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { AuthUser } from '../../core/auth/auth-user';
import type { NameSource } from './dto/profile.dto';
import { ProfilesRepository } from './profiles.repository';
import { TenantScope } from '../../core/database/tenant-scope';

/** Names another module knows for users (community: its members' display names); users left out have none. */
export type NameLookup = (tenantId: string, userIds: string[]) => Promise<Map<string, string>>;

export interface ResolvedName {
  displayName: string;
  source: NameSource;
}

/** Token names remembered per process, so a name is written once per change, not per request. */
const SEEN_NAMES = 50_000;

/**
 * Users' display names, for what Tether shows about a user on its own (the sender of a message
 * push). In this order, the first that exists:
 * 1. the name the host set through the API (`PUT /users/:userId/profile`): a deliberate choice;
 * 2. the name in the user's access token (JWT_NAME_CLAIM, `name`), remembered when a token is
 *    verified and the name differs from the one this process saw last;
 * 3. a name another module registers (community: the member's display name, unless it is the
 *    user id that enrollment filled in);
 * 4. the user id.
 */
@Injectable()
export class ProfilesService {
  private readonly logger = new Logger(ProfilesService.name);
  private readonly seen = new LRUCache<string, string>({ max: SEEN_NAMES });
  private readonly sources: NameLookup[] = [];

  constructor(private readonly repo: ProfilesRepository) {}

  registerNameSource(source: NameLookup): void {
    this.sources.push(source);
  }

  /** Remembers the name a verified token carries (TokenVerifier.onVerified): a write only when it changed. */
  remember(user: AuthUser): void {
    if (!user.name) return;
    const key = `${user.tenantId}\u0000${user.userId}`;
    if (this.seen.get(key) === user.name) return;
    this.seen.set(key, user.name);
    // Off the request path, and called while the token is verified (before the request's scope names
    // its tenant): the write runs in the token's tenant's own scope (row-level security).
    TenantScope.run(user.tenantId, () => this.repo.setTokenName(user.tenantId, user.userId, user.name!)).catch((err: Error) => {
      this.seen.delete(key); // try again with the next token
      this.logger.warn(`could not remember the token name of a user: ${err.message}`);
    });
  }

  async setDisplayName(tenantId: string, userId: string, name: string | null): Promise<ResolvedName> {
    await this.repo.setDisplayName(tenantId, userId, name === null ? null : name.trim());
    return (await this.resolve(tenantId, [userId])).get(userId)!;
  }

  /** Each user's display name and where it comes from (see the class comment for the order). */
  async resolve(tenantId: string, userIds: string[]): Promise<Map<string, ResolvedName>> {
    const users = [...new Set(userIds)];
    const rows = new Map((await this.repo.find(tenantId, users)).map((r) => [r.userId, r]));
    const resolved = new Map<string, ResolvedName>();
    const rest: string[] = [];
    for (const user of users) {
      const row = rows.get(user);
      if (row?.displayName) resolved.set(user, { displayName: row.displayName, source: 'host' });
      else if (row?.tokenName) resolved.set(user, { displayName: row.tokenName, source: 'token' });
      else rest.push(user);
    }
    for (const source of this.sources) {
      if (!rest.length) break;
      const names = await source(tenantId, rest);
      for (const user of rest.splice(0)) {
        const name = names.get(user);
        if (name && name !== user) resolved.set(user, { displayName: name, source: 'member' });
        else rest.push(user);
      }
    }
    for (const user of rest) resolved.set(user, { displayName: user, source: 'userId' });
    return resolved;
  }

  /** One user's display name (the user id when none is known). */
  async displayName(tenantId: string, userId: string): Promise<string> {
    return (await this.resolve(tenantId, [userId])).get(userId)!.displayName;
  }
}
