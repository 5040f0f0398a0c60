/**
 * The server event notifications sends to its recipients' sockets, added to realtime's event map
 * (see ServerEvents there). In-process notification hooks are in notification-events.ts.
 */
declare module '../realtime/realtime.events' {
  interface ServerEvents {
    'notification:new': {
      id: string;
      title: string | null;
      body: string | null;
      category: string;
      data: Record<string, string>;
      createdAt: string;
      /** With a caller's own notification object (NotifyInput.event): its fields, and Tether's id here. */
      notificationId?: string;
      [field: string]: unknown;
    };
  }
}

export {};
