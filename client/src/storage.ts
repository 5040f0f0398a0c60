/**
 * Where the client keeps what must survive a restart: channel offsets, sync cursors, the offline
 * mutation queue. Values are strings (JSON); every method may be async.
 */
export interface TetherStorage {
  getItem(key: string): Promise<string | null> | string | null;
  setItem(key: string, value: string): Promise<void> | void;
  removeItem(key: string): Promise<void> | void;
}

/** The default: kept in memory, gone with the process. */
export function memoryStorage(): TetherStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/** What `webStorage` needs: `localStorage`, `sessionStorage`, or anything shaped like them. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Browsers: `localStorage` (the default) or `sessionStorage`. A full quota (or storage disabled,
 * as in some private modes) loses the write instead of breaking the client: realtime then recovers
 * from an older offset at worst.
 */
export function webStorage(storage?: WebStorageLike): TetherStorage {
  const target = () => storage ?? (globalThis as { localStorage?: WebStorageLike }).localStorage!;
  return {
    getItem: (key) => {
      try {
        return target().getItem(key);
      } catch {
        return null;
      }
    },
    setItem: (key, value) => {
      try {
        target().setItem(key, value);
      } catch {
        // QuotaExceededError, SecurityError: dropped (see above).
      }
    },
    removeItem: (key) => {
      try {
        target().removeItem(key);
      } catch {
        // as above
      }
    },
  };
}

/**
 * Browsers: IndexedDB (`globalThis.indexedDB`), for queues too large for `localStorage`. One
 * object store `kv` in database `dbName`, opened on first use.
 */
export function indexedDbStorage(dbName = 'tether'): TetherStorage {
  let db: Promise<IDBDatabase> | undefined;
  const open = () =>
    (db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(dbName, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('kv');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => {
        db = undefined;
        reject(request.error);
      };
    }));
  const run = async <T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const tx = (await open()).transaction('kv', mode);
    const request = op(tx.objectStore('kv'));
    return new Promise<T>((resolve, reject) => {
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = tx.onabort = () => reject(tx.error ?? request.error);
    });
  };
  return {
    getItem: async (key) => ((await run('readonly', (s) => s.get(key))) as string | undefined) ?? null,
    setItem: async (key, value) => void (await run('readwrite', (s) => s.put(value, key))),
    removeItem: async (key) => void (await run('readwrite', (s) => s.delete(key))),
  };
}

/** Any key-value store with `getItem`/`setItem`/`removeItem`, sync or async, that may answer `undefined` for a missing key. */
export interface KeyValueStore {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): unknown;
  removeItem(key: string): unknown;
}

/**
 * React Native: AsyncStorage as is (`keyValueStorage(AsyncStorage)`), or MMKV through three
 * arrow functions (`getItem: (k) => mmkv.getString(k)`, `setItem: (k, v) => mmkv.set(k, v)`,
 * `removeItem: (k) => mmkv.delete(k)`).
 */
export function keyValueStorage(store: KeyValueStore): TetherStorage {
  return {
    getItem: async (key) => (await store.getItem(key)) ?? null,
    setItem: async (key, value) => void (await store.setItem(key, value)),
    removeItem: async (key) => void (await store.removeItem(key)),
  };
}
