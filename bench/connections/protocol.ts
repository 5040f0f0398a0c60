/**
 * What run.ts and its load generators (load-client.ts) say to each other over the Node IPC
 * channel, and the latency histogram both sides share. Kept apart so neither imports the other.
 */

/** run.ts -> load generator. */
export type Command =
  /** Signs one token per user index in [first, first + count) (before anything is timed). */
  | { type: 'prepare'; jwtSecret: string; tenantId: string; first: number; count: number }
  | {
      type: 'connect';
      /** http://127.0.0.1:<port> of the server. */
      url: string;
      /** User indexes [first, first + count): one socket (and one user) each. */
      first: number;
      count: number;
      /** Sockets in flight at once (a fixed pool of workers). */
      concurrency: number;
      /** Source address of this generator's sockets (127.0.0.x). */
      localAddress: string;
      /** Ready = the `session` event arrived (Tether), not just the namespace CONNECT (bare). */
      waitSession: boolean;
    }
  /** Sockets still open (not closed by the server) and the ping answers so far. */
  | { type: 'status' }
  | { type: 'close' };

/** Load generator -> run.ts. */
export type Reply =
  | { type: 'prepared'; ms: number }
  | {
      type: 'connected';
      connected: number;
      failed: number;
      /** Failure reasons with counts (the first few kinds). */
      errors: Record<string, number>;
      /** Date.now() when the first socket was opened and when the last one was ready. */
      startedAt: number;
      endedAt: number;
      /** Open -> namespace CONNECT answered, and open -> ready (same as connect for the bare server), 0.1 ms buckets. */
      connectLatency: [number, number][];
      readyLatency: [number, number][];
      /** permessage-deflate negotiated on the sockets (the server's choice). */
      deflate: number;
    }
  | { type: 'status'; open: number; closedByServer: number; pings: number }
  | { type: 'closed' };

/** Latency histogram in 0.1 ms buckets up to 60 s; the last bucket is "or more". */
export class Histogram {
  static readonly BUCKETS = 600_001;
  readonly counts = new Uint32Array(Histogram.BUCKETS);
  total = 0;

  add(ms: number): void {
    this.counts[Math.max(0, Math.min(Histogram.BUCKETS - 1, Math.round(ms * 10)))]++;
    this.total++;
  }

  addSparse(pairs: [number, number][]): void {
    for (const [bucket, n] of pairs) {
      this.counts[bucket] += n;
      this.total += n;
    }
  }

  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let b = 0; b < this.counts.length; b++) if (this.counts[b]) out.push([b, this.counts[b]]);
    return out;
  }

  /** The smallest ms such that at least q of the samples are <= it; NaN when empty. */
  quantile(q: number): number {
    if (!this.total) return NaN;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let b = 0; b < this.counts.length; b++) {
      seen += this.counts[b];
      if (seen >= rank) return b / 10;
    }
    return (Histogram.BUCKETS - 1) / 10;
  }
}
