import { Injectable } from '@nestjs/common';
import type { ClassConstructor } from 'class-transformer';
import type { AuthUser } from '../../core/auth/auth-user';
import type { OutboxTransaction } from '../../core/outbox';
import { NotFoundError } from '../../core/http/domain-error';
import { docsByIdSql, pageSql } from './sync.sql';

/**
 * A change in another table that changes what the caller may see of this collection.
 * `targetColumn`: each access row opens one row of the collection (an invite names its event).
 * `affects`: an access row changes the caller's view of every row matching this SQL condition
 * over `r` (a member's own record: a new role reveals all private events).
 */
export type SyncAccessRule = { table: string; xidColumn: string; userColumn: string } & (
  { targetColumn: string; affects?: never } | { affects: string; targetColumn?: never }
);

/**
 * A collection the change feed serves. The table has `id uuid`, `tenant_id`, `sync_xid bigint`
 * (stamped by the sync_touch() trigger), `version` and `deleted_at` (soft deletes are tombstones).
 * SQL snippets use `r` for the row and `{tenant}`, `{user}` for the caller.
 */
export interface SyncCollectionDefinition {
  /** URL segment (`/sync/<name>`) and key of the rows in responses. */
  name: string;
  table: string;
  /** Columns `serialize` reads. */
  columns: string[];
  /** May the caller see the (not deleted) row `r`? */
  visibleTo: string;
  /** SQL expression building the row's JSON document from `r`. */
  serialize: string;
  access?: SyncAccessRule[];
}

export type ConflictStrategy = 'last-write-wins' | 'fail-on-conflict';
export const CONFLICT_STRATEGIES: ConflictStrategy[] = ['last-write-wins', 'fail-on-conflict'];

/** What a domain makes of one validated item: the JSON its SQL handler receives, or a rejection. */
export type PreparedItem = { data: Record<string, unknown> } | { error: { code: string; message: string } };

export interface AppliedMutation<T> {
  item: T;
  id: string;
  status: 'created' | 'updated';
}

/**
 * An offline mutation kind (bulk endpoint). `handler` is a SQL function
 * `(tenant text, user text, item jsonb, strategy text) -> jsonb` returning
 * `{status: created|updated|conflict|rejected, id?, serverVersion?, error?}`; sync runs it for each
 * item inside that item's savepoint, after the idempotency ledger has claimed the offlineId.
 */
export interface SyncMutationDefinition<T extends object> {
  kind: string;
  /** The collection whose documents describe the server side of a conflict. */
  collection: string;
  handler: string;
  /** class-validator class of one item (offlineId included). */
  item: ClassConstructor<T>;
  prepare(item: T, caller: AuthUser): PreparedItem;
  /**
   * In the batch's transaction, after its items: record the events the applied items cause in the
   * outbox (published after the commit). An error here undoes the whole batch.
   */
  record?(tx: OutboxTransaction, caller: AuthUser, applied: AppliedMutation<T>[]): Promise<void>;
}

export interface CompiledCollection extends SyncCollectionDefinition {
  pageSql: string;
  docsSql: string;
  /** Tables whose purged tombstones may hide a change of this collection. */
  tombstoneTables: string[];
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The collections and mutations domain modules register (community registers events, members,
 * rsvps and checkins). Sync itself knows no domain.
 */
@Injectable()
export class SyncRegistry {
  private readonly collections = new Map<string, CompiledCollection>();
  private readonly mutations = new Map<string, SyncMutationDefinition<object>>();
  private readonly readerSetups: ((caller: AuthUser) => Promise<void>)[] = [];

  /**
   * Work a domain needs done for a caller before their first pull sees the right rows (community
   * enrolls the caller as a member, as visibility depends on the member's roles).
   */
  beforeRead(setup: (caller: AuthUser) => Promise<void>): void {
    this.readerSetups.push(setup);
  }

  async prepareRead(caller: AuthUser): Promise<void> {
    for (const setup of this.readerSetups) await setup(caller);
  }

  registerCollection(def: SyncCollectionDefinition): void {
    if (this.collections.has(def.name)) throw new Error(`sync collection "${def.name}" is already registered`);
    const names = [
      def.table,
      ...def.columns,
      ...(def.access ?? []).flatMap((a) => [a.table, a.xidColumn, a.userColumn, a.targetColumn ?? 'x']),
    ];
    for (const name of names) if (!IDENT.test(name)) throw new Error(`sync collection "${def.name}": "${name}" is not a plain identifier`);
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(def.name)) throw new Error(`sync collection name "${def.name}" is not a lowercase word`);
    const tombstoneTables = [...new Set([...(def.access ?? []).map((a) => a.table), def.table])];
    this.collections.set(def.name, { ...def, pageSql: pageSql(def), docsSql: docsByIdSql(def), tombstoneTables });
  }

  registerMutation<T extends object>(def: SyncMutationDefinition<T>): void {
    if (this.mutations.has(def.kind)) throw new Error(`sync mutation "${def.kind}" is already registered`);
    if (!IDENT.test(def.handler)) throw new Error(`sync mutation "${def.kind}": handler must be a plain function name`);
    this.mutations.set(def.kind, def as unknown as SyncMutationDefinition<object>);
  }

  collection(name: string): CompiledCollection {
    const c = this.collections.get(name);
    if (!c) throw new NotFoundError('unknown_collection', `No sync collection "${name}"; known: ${this.collectionNames().join(', ')}`);
    return c;
  }

  collectionNames(): string[] {
    return [...this.collections.keys()];
  }

  allCollections(): CompiledCollection[] {
    return [...this.collections.values()];
  }

  mutation(kind: string): SyncMutationDefinition<object> {
    const m = this.mutations.get(kind);
    if (!m) throw new Error(`sync mutation "${kind}" is not registered`);
    return m;
  }
}
