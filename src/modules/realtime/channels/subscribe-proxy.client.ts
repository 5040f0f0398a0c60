import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../../../config/app-config';
import type { AuthUser } from '../../../core/auth/auth-user';
import type { PolicyDecision } from './channel-policy.registry';

/** Answers kept at most; the least recently used goes first. */
const MAX_CACHED = 10_000;
const UNAVAILABLE: PolicyDecision = { reason: 'proxy_unavailable' };
const REASON = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Asks the host backend whether a user may join one of its channels:
 * `POST SUBSCRIBE_PROXY_URL {userId, tenantId, channel}` (with `Authorization: Bearer
 * SUBSCRIBE_PROXY_SECRET` when set). A 2xx with an empty body, or a JSON body whose `allow` is
 * not `false`, allows; `{allow: false, reason?}` or 401/403/404 denies. Anything else (another
 * status, a body that is not JSON, a network error, no answer within SUBSCRIBE_PROXY_TIMEOUT_MS)
 * denies with `proxy_unavailable`: a broken proxy never opens a channel. Allows and denies are
 * reused for SUBSCRIBE_PROXY_CACHE_MS per (tenant, user, channel); failures are not.
 */
@Injectable()
export class SubscribeProxyClient {
  private readonly logger = new Logger(SubscribeProxyClient.name);
  private readonly settings;
  /** Undefined when SUBSCRIBE_PROXY_CACHE_MS is 0 (every subscribe asks). */
  private readonly cache?: LRUCache<string, PolicyDecision>;
  /** One request per key at a time: concurrent subscribes share its answer. */
  private readonly pending = new Map<string, Promise<PolicyDecision>>();

  constructor(config: AppConfig) {
    this.settings = config.hostChannels.proxy;
    if (this.settings.cacheMs > 0) this.cache = new LRUCache({ max: MAX_CACHED, ttl: this.settings.cacheMs });
  }

  ask(user: AuthUser, channel: string): Promise<PolicyDecision> {
    const key = `${user.tenantId}|${user.userId}|${channel}`;
    const cached = this.cache?.get(key);
    if (cached) return Promise.resolve(cached);
    let answer = this.pending.get(key);
    if (!answer) {
      answer = this.request(user, channel)
        .then((decision) => {
          if (decision !== UNAVAILABLE) this.cache?.set(key, decision);
          return decision;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, answer);
    }
    return answer;
  }

  private async request(user: AuthUser, channel: string): Promise<PolicyDecision> {
    const { url, secret, timeoutMs } = this.settings;
    if (!url) return UNAVAILABLE;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
        body: JSON.stringify({ userId: user.userId, tenantId: user.tenantId, channel }),
        redirect: 'manual',
        // Covers the body too: a proxy that stalls mid-answer is as unavailable as a silent one.
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      if ([401, 403, 404].includes(response.status)) return { reason: 'forbidden' };
      if (response.status < 200 || response.status >= 300) return this.unavailable(`status ${response.status}`);
      if (!text.trim()) return true;
      const body = JSON.parse(text) as { allow?: unknown; reason?: unknown } | null;
      if (body?.allow !== false) return true;
      return { reason: typeof body.reason === 'string' && REASON.test(body.reason) ? body.reason : 'forbidden' };
    } catch (err) {
      return this.unavailable((err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message);
    }
  }

  private unavailable(why: string): PolicyDecision {
    this.logger.warn(`subscribe proxy unavailable: ${why}`);
    return UNAVAILABLE;
  }
}
