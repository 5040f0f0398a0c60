import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { TenantScope } from './tenant-scope';

/** Role of tenant work: its policies show it the rows of `tether.tenant_id` only (migration 1764400000000). */
export const APP_ROLE = 'tether_app';
/** The setting the policies compare tenant_id with. */
export const TENANT_SETTING = 'tether.tenant_id';

const SET_SCOPE = `SELECT set_config('role', $1, false), set_config('${TENANT_SETTING}', $2, false)`;
const SET_TENANT = `SELECT set_config('${TENANT_SETTING}', $1, false)`;

type Release = (err?: Error | boolean) => void;
type ConnectCallback = (err: Error | undefined, client?: PoolClient, release?: Release) => void;
type Connect = (cb: ConnectCallback) => void;

export interface RowLevelSecurityOptions {
  /**
   * The login of tenant work (DB_APP_USER / DB_APP_PASSWORD): a second pool, whose sessions are
   * tether_app (or a member of it) from the start and can change neither role nor policies.
   * Without it, tenant work borrows the login role's connections with `SET ROLE tether_app`.
   */
  appLogin?: { user: string; password?: string };
}

/**
 * Makes every connection TypeORM's pool hands out (query runners, transactions, and `pool.query`
 * with the prepared statements of messaging and sync, which checks out through the same method)
 * run as the current scope (TenantScope) wants, before any statement of its borrower:
 * - tenant work (and work with no scope at all) as tether_app with `tether.tenant_id` = the
 *   scope's tenant ('' without one: no tenant's rows);
 * - a named system task (TenantScope.system) as the login role, the tables' owner, which row-level
 *   security does not restrict.
 * Set per checkout, at session level, and only when the connection was last set to something else:
 * a checkout for the tenant the connection last served costs no round trip, a change costs one
 * `SELECT set_config(...)`. (Per transaction, `SET LOCAL`, would cost a statement on every
 * transaction and could not cover statements outside one.)
 */
const appPools = new WeakMap<Pool, Pool>();

/** The pool logged in as the app role (DB_APP_USER) beside `master`, when there is one (for the pool metrics). */
export function appPoolOf(master: Pool): Pool | undefined {
  return appPools.get(master);
}

export function enforceRowLevelSecurity(master: Pool, options: RowLevelSecurityOptions = {}): void {
  const applied = new WeakMap<PoolClient, string>();
  const masterConnect = master.connect.bind(master) as Connect;

  /** Checks a connection out of `connect`, then runs `setup` on it unless it is already in `state`. */
  const borrow = (connect: Connect, state: string, setup: (c: PoolClient) => Promise<unknown>) =>
    new Promise<{ client: PoolClient; release: Release }>((resolve, reject) => {
      connect((err, client, done) => {
        if (err || !client) return reject(err ?? new Error('no connection'));
        const release: Release = done ?? ((e) => client.release(e));
        if (applied.get(client) === state) return resolve({ client, release });
        setup(client).then(
          () => {
            applied.set(client, state);
            resolve({ client, release });
          },
          (e: Error) => {
            applied.delete(client);
            release(e);
            reject(e);
          },
        );
      });
    });

  let checkout: () => Promise<{ client: PoolClient; release: Release }>;
  if (options.appLogin) {
    const { user, password } = options.appLogin;
    const config = { ...(master as unknown as { options: PoolConfig }).options, user, password };
    if (config.connectionString) {
      // A connection string wins over user and password: name the app's login in it instead.
      const url = new URL(config.connectionString);
      url.username = encodeURIComponent(user);
      url.password = password ? encodeURIComponent(password) : '';
      config.connectionString = url.toString();
    }
    const app = new Pool(config);
    appPools.set(master, app);
    // Like TypeORM's pool: an idle connection's error must not end the process.
    app.on('error', () => undefined);
    const appConnect = app.connect.bind(app) as Connect;
    checkout = () => {
      // The caller's scope, taken now: the connection may come from another borrower's release later.
      const scope = TenantScope.current();
      if (scope?.system) return borrow(masterConnect, 'owner', () => Promise.resolve());
      const tenant = scope?.tenantId ?? '';
      return borrow(appConnect, tenant, (c) => c.query(SET_TENANT, [tenant]));
    };
    const end = master.end.bind(master) as (cb?: (err?: Error) => void) => Promise<void> | void;
    master.end = ((cb?: (err?: Error) => void) => {
      const both = Promise.all([app.end(), new Promise<void>((ok, fail) => end((e) => (e ? fail(e) : ok())))]).then(() => undefined);
      if (!cb) return both;
      both.then(() => cb(), cb);
    }) as Pool['end'];
  } else {
    checkout = () => {
      const scope = TenantScope.current();
      const role = scope?.system ? 'none' : APP_ROLE; // 'none': RESET ROLE, back to the login role
      const tenant = scope?.system ? '' : (scope?.tenantId ?? '');
      return borrow(masterConnect, `${role}\u0000${tenant}`, (c) => c.query(SET_SCOPE, [role, tenant]));
    };
  }

  master.connect = ((cb?: ConnectCallback) => {
    const borrowed = checkout();
    if (!cb) return borrowed.then(({ client }) => client);
    borrowed.then(
      ({ client, release }) => cb(undefined, client, release),
      (err: Error) => cb(err, undefined, () => undefined),
    );
  }) as Pool['connect'];
}
