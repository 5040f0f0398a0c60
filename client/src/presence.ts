import type { SocketLink } from './context';
import { Emitter } from './emitter';
import type { HttpClient } from './http';

export interface PresenceState {
  userId: string;
  status: 'online' | 'offline';
  /** ISO time; null for a user never seen. */
  lastSeen: string | null;
}

type PresenceEvents = { update: (state: PresenceState) => void };

/**
 * Who is online: `of(userIds)` asks once over HTTP; `follow(userIds)` streams `update`s for them
 * over the socket (followed again after every reconnect, since the server forgets follows with
 * the socket).
 */
export class Presence extends Emitter<PresenceEvents> {
  private readonly followed = new Set<string>();

  constructor(
    private readonly http: HttpClient,
    private readonly link: SocketLink,
    private readonly ackTimeoutMs: number,
  ) {
    super();
  }

  /** Current states, one per distinct id in the order asked (`GET /presence`, 200 ids per request). */
  async of(userIds: string[]): Promise<PresenceState[]> {
    const ids = [...new Set(userIds)];
    const pages: PresenceState[][] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const res = await this.http.get<{ presence: PresenceState[] }>('/presence', { query: { userIds: ids.slice(i, i + 200).join(',') } });
      pages.push(res.presence);
    }
    return pages.flat();
  }

  /** Follows users: their current states now (as `update`s too), their changes from then on. */
  async follow(userIds: string[]): Promise<PresenceState[]> {
    for (const id of userIds) this.followed.add(id);
    return this.link.connected ? this.sendFollow([...new Set(userIds)]) : [];
  }

  async unfollow(userIds: string[]): Promise<void> {
    for (const id of userIds) this.followed.delete(id);
    if (!this.link.connected) return;
    for (let i = 0; i < userIds.length; i += 1000)
      await this.link.emitWithAck('presence:unfollow', { userIds: userIds.slice(i, i + 1000) }, this.ackTimeoutMs);
  }

  /** @internal after every connect */
  refollow(): void {
    if (this.followed.size) this.sendFollow([...this.followed]).catch(() => undefined);
  }

  /** @internal a `presence:update` from the socket */
  update(state: PresenceState): void {
    this.emit('update', state);
  }

  private async sendFollow(ids: string[]): Promise<PresenceState[]> {
    const states: PresenceState[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const ack = await this.link.emitWithAck<{ presence?: PresenceState[]; error?: { code: string; message: string } }>(
        'presence:follow',
        { userIds: ids.slice(i, i + 1000) },
        this.ackTimeoutMs,
      );
      if (ack.error) throw Object.assign(new Error(ack.error.message), { code: ack.error.code });
      states.push(...(ack.presence ?? []));
    }
    for (const s of states) this.update(s);
    return states;
  }
}
