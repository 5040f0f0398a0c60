/** A delivery: one message or notification on its way to its recipients (`m:<id>`, `n:<id>`). */
export type SubjectKind = 'message' | 'notification';

export const KIND_PREFIX: Record<SubjectKind, string> = { message: 'm', notification: 'n' };
const KIND_OF: Record<string, SubjectKind> = { m: 'message', n: 'notification' };
const DELIVERY_ID = /^([mn]):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function deliveryId(kind: SubjectKind, subjectId: string): string {
  return `${KIND_PREFIX[kind]}:${subjectId}`;
}

/** The subject a delivery id names, or undefined for an id that is not one. */
export function parseDeliveryId(id: string): { kind: SubjectKind; subjectId: string } | undefined {
  const m = DELIVERY_ID.exec(id);
  return m ? { kind: KIND_OF[m[1]], subjectId: m[2] } : undefined;
}

/** How an acknowledgement reached the server (the `transport` of its receipt and metric). */
export type AckTransport = 'socketio' | 'websocket' | 'http';

/** One device's confirmation of one delivery. */
export interface Acknowledgement {
  tenantId: string;
  userId: string;
  kind: SubjectKind;
  subjectId: string;
  deviceId?: string;
  transport: AckTransport;
  at: Date;
}

/** What a delivery waiting for acknowledgements does when none came: the subject's owner pushes it. */
export interface FallbackWork {
  tenantId: string;
  kind: SubjectKind;
  subjectId: string;
  /** The recipients none of whose devices acknowledged in time. */
  userIds: string[];
  /** Whatever the owner put in at registration (e.g. the message's conversation). */
  context: Record<string, string>;
}

/** A push receipt: the provider's answer for one device. */
export interface PushReceipt {
  userId: string;
  deviceId: string;
  status: 'sent' | 'failed' | 'retrying' | 'deactivated';
  /** The provider and its answer (`fcm: accepted`, `fcm: messaging/unavailable`). */
  detail: string;
}
