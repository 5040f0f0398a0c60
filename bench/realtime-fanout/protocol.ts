/**
 * What run.ts and its load generators (load-client.ts) say to each other over the Node IPC
 * channel, plus the latency histogram both sides share. Kept apart so neither imports the other.
 */

/** The event both servers emit and every client counts. */
export const EVENT = 'announcement:new';
/** Tether channel name; the baseline uses it as its room name too. */
export const CHANNEL = 'announcements';

/** What every publish carries: `t` is Date.now() at send time (one machine, one clock). */
export interface Payload {
  seq: number;
  t: number;
  title: string;
  content: string;
}

/** run.ts -> load generator. */
export type Command =
  | {
      type: 'connect';
      /** Which target these clients belong to ('baseline' or 'Tether'); steps count one group. */
      group: string;
      /** One URL per server; client i connects to urls[(offset + i) % urls.length]. */
      urls: string[];
      clients: number;
      /** Global index of this generator's first client (user ids, server choice). */
      offset: number;
      /** HS256 secret for Tether tokens; undefined for the baseline (no auth). */
      jwtSecret?: string;
      tenantId: string;
      concurrency: number;
    }
  /** Start counting a step for one group: seqs [firstSeq, firstSeq + count) will be published. */
  | {
      type: 'step';
      group: string;
      firstSeq: number;
      count: number;
      windowEnd: number;
    }
  | { type: 'progress' }
  | { type: 'report' }
  | { type: 'close' };

/** Load generator -> run.ts. */
export type Reply =
  | {
      type: 'connected';
      connected: number;
      failed: number;
      firstError?: string;
      ms: number;
    }
  | { type: 'stepping' }
  | { type: 'progress'; distinct: number }
  | {
      type: 'report';
      /** Distinct (client, seq) pairs received for the step: what the clients really got. */
      distinct: number;
      /** Of those, received no later than windowEnd: what counts as throughput. */
      inWindow: number;
      duplicates: number;
      /** Sum over clients of seqs of this step never received. */
      lost: number;
      /** Clients that saw at least one gap. */
      clientsWithLoss: number;
      /** Clients of the group that have disconnected since they connected (they never reconnect). */
      disconnected: number;
      /** Sparse latency histogram: [ms, count] pairs. */
      latency: [number, number][];
    }
  | { type: 'closed' };

/** Latency histogram with 1 ms buckets (Date.now() resolution); the last bucket is "or more". */
export class Histogram {
  static readonly MAX_MS = 60_000;
  readonly counts = new Uint32Array(Histogram.MAX_MS + 1);
  total = 0;

  add(ms: number): void {
    this.counts[Math.max(0, Math.min(Histogram.MAX_MS, ms))]++;
    this.total++;
  }

  addSparse(pairs: [number, number][]): void {
    for (const [ms, n] of pairs) {
      this.counts[ms] += n;
      this.total += n;
    }
  }

  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let ms = 0; ms < this.counts.length; ms++) if (this.counts[ms]) out.push([ms, this.counts[ms]]);
    return out;
  }

  /** The smallest ms such that at least q of the samples are <= it; NaN when empty. */
  quantile(q: number): number {
    if (!this.total) return NaN;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let ms = 0; ms < this.counts.length; ms++) {
      seen += this.counts[ms];
      if (seen >= rank) return ms;
    }
    return Histogram.MAX_MS;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }
}
