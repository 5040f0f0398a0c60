import { Injectable } from '@nestjs/common';
import type { Category } from './notifications.constants';

/**
 * A domain's own unread things, counted into the iOS badge: messaging registers its unread messages
 * (`covers: 'message'`, since its pushes also leave inbox entries of that category, which the badge
 * then leaves out so that a message is not counted twice).
 */
export interface UnreadCounter {
  covers?: Category;
  /** Unread count per user; users left out have none. */
  count(tenantId: string, userIds: string[]): Promise<Map<string, number>>;
}

/**
 * Where domains register their unread counts. The badge of an alert push is, per recipient, their
 * unread inbox entries (of categories no counter covers) plus every counter's count, read when the
 * push fans out.
 */
@Injectable()
export class UnreadCounters {
  private readonly counters: UnreadCounter[] = [];

  register(counter: UnreadCounter): void {
    this.counters.push(counter);
  }

  /** Inbox categories a counter counts in its own way. */
  get covered(): Category[] {
    return this.counters.flatMap((c) => (c.covers ? [c.covers] : []));
  }

  /** The counters' counts added up per user. */
  async count(tenantId: string, userIds: string[]): Promise<Map<string, number>> {
    const total = new Map<string, number>();
    if (!userIds.length) return total;
    for (const counts of await Promise.all(this.counters.map((c) => c.count(tenantId, userIds))))
      for (const [user, n] of counts) total.set(user, (total.get(user) ?? 0) + n);
    return total;
  }
}
