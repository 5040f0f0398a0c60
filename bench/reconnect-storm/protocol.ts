/**
 * What run.ts and its load generators (storm-client.ts) say to each other over the Node IPC
 * channel. Kept apart so neither imports the other.
 */

/** The event every publish carries (lowercase words separated by colons, as /admin/broadcast wants). */
export const EVENT = 'storm:tick';

/** What every publish carries: `seq` counts from 1 per channel, in publish order. */
export interface Payload {
  seq: number;
  t: number;
}

/** run.ts -> load generator. */
export type Command =
  | {
      type: 'connect';
      /** [pod A, pod B]. Client g starts on urls[g % 2] and, when its socket drops, reconnects to the other. */
      urls: string[];
      /** Global indexes [first, first + clients) of this generator's clients (user ids, pod, channel). */
      first: number;
      clients: number;
      channels: number;
      jwtSecret: string;
      tenantId: string;
      concurrency: number;
      /** Connect timeout and subscribe-answer timeout, ms (the SDK's ackTimeoutMs, 10 s by default). */
      timeoutMs: number;
    }
  | { type: 'progress'; published?: number[] }
  | { type: 'report'; published: number[]; failed: number[][] }
  | { type: 'close' };

/** Per generator, for the clients that started on pod A (the killed one). */
export interface StormState {
  /** Clients of pod A not yet resubscribed with an answer to their `since`. */
  pending: number;
  recoveredTrue: number;
  recoveredFalse: number;
  /** Date.now() of the last `recovered` answer seen (0 when none). */
  lastRecoveredAt: number;
}

/** Load generator -> run.ts. */
export type Reply =
  | {
      type: 'connected';
      connected: number;
      failed: number;
      /** Handshake refusals (connect_error with a code) and transport errors, by code or message. */
      errors: Record<string, number>;
      ms: number;
    }
  | ({
      type: 'progress';
      /** With `published`: (client, seq) pairs still missing. */
      missing: number;
    } & StormState)
  | ({
      type: 'report';
      clients: number;
      /** (client, seq) pairs published on the client's channel after it subscribed and never received. */
      lost: number;
      clientsWithLoss: number;
      duplicates: number;
      /** Events that arrived after a higher seq of the same channel. */
      outOfOrder: number;
      /** Clients that started on pod B and were disconnected anyway. */
      unexpectedDisconnects: number;
      /** Per client of pod A that got an answer: disconnect -> answered `recovered`, ms; and Date.now() of the answer. */
      reconnectMs: number[];
      recoveredAt: number[];
      /** Reconnect attempts per client of pod A (1 = the first attempt worked). */
      attempts: number[];
      /** During the storm: handshake refusals by code (rate_limited, ...), transport errors by message. */
      refusals: Record<string, number>;
      transportErrors: Record<string, number>;
      subscribeErrors: Record<string, number>;
      /** Received events whose payload was not of the client's channel (never expected). */
      strays: number;
    } & StormState)
  | { type: 'closed' };
