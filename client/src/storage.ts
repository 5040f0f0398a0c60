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
