import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../../../core/auth/auth-user';
import { Channel, parseChannel } from './channel';

/** What a policy answers: allowed, or a reason the client can show or act on. */
export type PolicyDecision = true | { reason: string };

/**
 * Decides whether a user may join one channel. Registered per prefix by the module that owns the
 * prefix (messaging owns `conversation`); realtime knows no domain. Called on every subscribe
 * and on every poll of GET /realtime/events.
 */
export type ChannelPolicy = (user: AuthUser, channel: Channel, context: ChannelContext) => PolicyDecision | Promise<PolicyDecision>;

/** What the client sent along with its request for one channel. */
export interface ChannelContext {
  /** A subscription token for this channel, signed by the host app (see host-channels.ts). */
  token?: string;
}

export interface ChannelDecision {
  channel: string;
  allowed: boolean;
  reason?: string;
}

@Injectable()
export class ChannelPolicyRegistry {
  private readonly policies = new Map<string, ChannelPolicy>();

  /**
   * `key` is either a prefix with a trailing colon (`conversation:` for `conversation:<id>`) or an
   * exact channel name (`announcements`, `service:counts`); an exact name wins over its prefix.
   */
  register(key: string, policy: ChannelPolicy): void {
    if (this.policies.has(key)) throw new Error(`channel policy for "${key}" is already registered`);
    this.policies.set(key, policy);
  }

  /** Whether a policy is registered under `key` (a prefix with its colon, or an exact name). */
  has(key: string): boolean {
    return this.policies.has(key);
  }

  async authorize(user: AuthUser, name: unknown, context: ChannelContext = {}): Promise<ChannelDecision> {
    const channel = parseChannel(name);
    if (!channel) return { channel: String(name), allowed: false, reason: 'invalid_channel' };
    const policy = this.policies.get(channel.name) ?? (channel.id === undefined ? undefined : this.policies.get(`${channel.prefix}:`));
    if (!policy) return { channel: channel.name, allowed: false, reason: 'unknown_channel' };
    try {
      const decision = await policy(user, channel, context);
      return decision === true
        ? { channel: channel.name, allowed: true }
        : { channel: channel.name, allowed: false, reason: decision.reason };
    } catch {
      // A policy that fails denies: never open a channel because a check broke.
      return { channel: channel.name, allowed: false, reason: 'policy_unavailable' };
    }
  }
}
