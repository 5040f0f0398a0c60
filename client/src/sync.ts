import { ClientContext } from './context';
import { TetherHttpError } from './errors';

/** One page of a collection, as `apply` gets it. `reset`: drop your local copy first (then pages follow from scratch). */
export interface SyncPage<T = unknown> {
  /** Rows created or changed since the last page: insert or replace them by `id`. */
  upserts: T[];
  deletes: string[];
  reset?: boolean;
  /** The server's time of the page (ISO 8601). */
  timestamp?: string;
}

/** One page of `GET /sync/changes`: upserts and deletes per collection. */
export interface ChangesPage {
  collections: Record<string, { upserts: unknown[]; deletes: string[] }>;
  reset?: boolean;
  timestamp?: string;
}

export interface SyncOptions<P> {
  /** Writes the page locally; the cursor is stored only after it resolved. */
  apply(page: P): unknown;
  /** Page size (server default 50, at most 500). */
  limit?: number;
}

export interface SyncCollection {
  readonly name: string;
  /**
   * Pulls every page until `hasMore` is false; concurrent calls share one run. Errors other than
   * 429 and one 410 reject it; the stored cursor stays where the last applied page left it.
   */
  pull(): Promise<void>;
}

type Body = Record<string, unknown> & {
  deleted: string[] | Record<string, string[]>;
  nextCursor: string;
  hasMore: boolean;
  timestamp: string;
};

/**
 * Delta sync (README "Offline sync"): follows `nextCursor`, keeps the cursor per collection under
 * `sync:<name>` (or `sync:changes:<names>`) once the page is applied, waits out 429, and on 410
 * `sync_reset_required` applies a reset and starts again without a cursor.
 */
export class SyncClient {
  private runs = new Map<string, Promise<void>>();

  constructor(private readonly ctx: ClientContext) {}

  collection<T = unknown>(name: string, options: SyncOptions<SyncPage<T>>): SyncCollection {
    const pull = () =>
      this.run(`sync:${name}`, `/sync/${encodeURIComponent(name)}`, { limit: options.limit }, (body) =>
        options.apply(
          body
            ? { upserts: body[name] as T[], deletes: body.deleted as string[], timestamp: body.timestamp }
            : { reset: true, upserts: [], deletes: [] },
        ),
      );
    return { name, pull };
  }

  /** Several collections from one snapshot with one cursor (`GET /sync/changes`), until `hasMore` is false. */
  changes(collections: string[], options: SyncOptions<ChangesPage>): Promise<void> {
    const names = [...collections].sort();
    return this.run(`sync:changes:${names}`, '/sync/changes', { collections: `${names}`, limit: options.limit }, (body) => {
      const page: ChangesPage = { collections: {}, ...(body ? { timestamp: body.timestamp } : { reset: true }) };
      for (const n of names)
        page.collections[n] = {
          upserts: (body?.[n] as unknown[]) ?? [],
          deletes: (body?.deleted as Record<string, string[]>)?.[n] ?? [],
        };
      return options.apply(page);
    });
  }

  private run(key: string, path: string, query: Record<string, string | number | undefined>, apply: (body?: Body) => unknown) {
    let run = this.runs.get(key);
    if (!run) {
      run = this.loop(key, path, query, apply).finally(() => this.runs.delete(key));
      this.runs.set(key, run);
    }
    return run;
  }

  private async loop(key: string, path: string, query: Record<string, string | number | undefined>, apply: (body?: Body) => unknown) {
    const { http, store, clock } = this.ctx;
    let cursor = await store.get<string>(key);
    for (let resets = 0; ;) {
      let body: Body;
      try {
        body = await http.get<Body>(path, { query: { ...query, cursor } });
      } catch (err) {
        if (!(err instanceof TetherHttpError)) throw err;
        if (err.status === 429) {
          await clock.sleep(err.retryAfterMs ?? 1000);
          continue;
        }
        // A second reset in one run means the server keeps refusing: surface it.
        if (err.code !== 'sync_reset_required' || resets++) throw err;
        await apply();
        await store.remove(key);
        cursor = undefined;
        continue;
      }
      await apply(body);
      await store.set(key, (cursor = body.nextCursor));
      if (!body.hasMore) return;
    }
  }
}
