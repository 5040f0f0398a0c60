import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Whose rows the database work of the current request, socket event or job may see (row-level
 * security, see row-level-security.ts): one tenant's, or, for a named cross-tenant system task,
 * every tenant's. No scope at all sees no tenant's rows.
 */
export interface DbScope {
  tenantId?: string;
  /** The system task running (outbox relay, sync purge...): every tenant's rows. */
  system?: string;
}

const storage = new AsyncLocalStorage<DbScope>();

export const TenantScope = {
  /** Runs `fn` (and everything it starts) with only `tenantId`'s rows visible. */
  run<T>(tenantId: string, fn: () => T): T {
    return storage.run({ tenantId }, fn);
  },

  /**
   * Runs `fn` as the named cross-tenant system task (as the login role, which owns the tables). The narrow path: only
   * the outbox relay and deletes, purges, sweepers and maintenance jobs call it.
   */
  system<T>(task: string, fn: () => T): T {
    return storage.run({ system: task }, fn);
  },

  /** Opens an empty scope (HTTP requests: the auth guard names the tenant with `enter` once it knows it). */
  open<T>(fn: () => T): T {
    return storage.run({}, fn);
  },

  /** Names the tenant of the scope opened with `open` (a system scope stays as it is). */
  enter(tenantId: string): void {
    const scope = storage.getStore();
    if (scope && !scope.system) scope.tenantId = tenantId;
  },

  current(): DbScope | undefined {
    return storage.getStore();
  },
};
