import type { ServiceCounts } from './dto/community.dto';

/** The server events community publishes, added to realtime's event map (see ServerEvents there). */
declare module '../realtime/realtime.events' {
  interface ServerEvents {
    'service:count_update': ServiceCounts;
    /** `siteId` only for a site's announcement (on `site:<siteId>`). */
    'announcement:new': { id: string; title: string; content: string; priority: string; createdAt: string; siteId?: string };
  }
}
