import 'fake-indexeddb/auto';
import { JsonStore } from '../src/context';
import { indexedDbStorage, keyValueStorage, memoryStorage, TetherStorage, webStorage, WebStorageLike } from '../src/storage';

/** A localStorage stand-in with a quota, as browsers enforce one. */
function quotaStorage(maxChars: number): WebStorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => {
      const used = [...items].reduce((n, [key, value]) => (key === k ? n : n + key.length + value.length), 0);
      if (used + k.length + v.length > maxChars) throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
      items.set(k, v);
    },
    removeItem: (k) => void items.delete(k),
  };
}

async function roundTrip(storage: TetherStorage): Promise<void> {
  expect(await storage.getItem('missing')).toBeNull();
  await storage.setItem('a', 'one');
  expect(await storage.getItem('a')).toBe('one');
  await storage.setItem('a', 'two');
  expect(await storage.getItem('a')).toBe('two');
  await storage.removeItem('a');
  expect(await storage.getItem('a')).toBeNull();
  // What the client writes through it: JSON under the prefix, writes to one key applied in order.
  const store = new JsonStore(storage, 'tether:');
  void store.set('offsets', { announcements: 'e.1-0' });
  void store.set('offsets', { announcements: 'e.2-0' });
  expect(await store.get('offsets')).toEqual({ announcements: 'e.2-0' });
  expect(await storage.getItem('tether:offsets')).toBe('{"announcements":"e.2-0"}');
}

describe('storage adapters', () => {
  it('memoryStorage keeps values for the life of the process', async () => {
    await roundTrip(memoryStorage());
  });

  it('webStorage reads and writes a localStorage-like store', async () => {
    const local = quotaStorage(10_000);
    await roundTrip(webStorage(local));
    expect(local.items.get('tether:offsets')).toBe('{"announcements":"e.2-0"}');
  });

  it('webStorage drops a write over the quota instead of throwing, and keeps working', async () => {
    const local = quotaStorage(40);
    const storage = webStorage(local);
    await storage.setItem('small', 'x');
    expect(() => storage.setItem('big', 'y'.repeat(100))).not.toThrow();
    expect(await storage.getItem('big')).toBeNull();
    expect(await storage.getItem('small')).toBe('x');
    const throwing: WebStorageLike = {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('SecurityError');
      },
      removeItem: () => {
        throw new Error('SecurityError');
      },
    };
    const disabled = webStorage(throwing);
    expect(await disabled.getItem('a')).toBeNull();
    expect(() => disabled.setItem('a', 'b')).not.toThrow();
    expect(() => disabled.removeItem('a')).not.toThrow();
  });

  it('webStorage defaults to globalThis.localStorage', async () => {
    const local = quotaStorage(1000);
    (globalThis as { localStorage?: WebStorageLike }).localStorage = local;
    try {
      await webStorage().setItem('k', 'v');
      expect(local.items.get('k')).toBe('v');
    } finally {
      delete (globalThis as { localStorage?: WebStorageLike }).localStorage;
    }
  });

  it('indexedDbStorage keeps values in IndexedDB, across instances of the same database', async () => {
    const name = `tether-test-${Date.now()}`;
    await roundTrip(indexedDbStorage(name));
    await indexedDbStorage(name).setItem('kept', 'yes');
    expect(await indexedDbStorage(name).getItem('kept')).toBe('yes');
    expect(await indexedDbStorage(`${name}-other`).getItem('kept')).toBeNull();
  });

  it('keyValueStorage wraps an async store (AsyncStorage) and a sync one answering undefined (MMKV)', async () => {
    const asyncItems = new Map<string, string>();
    const asyncStorage = {
      getItem: async (k: string) => asyncItems.get(k) ?? null,
      setItem: async (k: string, v: string) => void asyncItems.set(k, v),
      removeItem: async (k: string) => void asyncItems.delete(k),
    };
    await roundTrip(keyValueStorage(asyncStorage));
    expect(asyncItems.get('tether:offsets')).toBe('{"announcements":"e.2-0"}');

    const mmkvItems = new Map<string, string>();
    const mmkv = {
      getString: (k: string) => mmkvItems.get(k),
      set: (k: string, v: string) => void mmkvItems.set(k, v),
      delete: (k: string) => void mmkvItems.delete(k),
    };
    await roundTrip(
      keyValueStorage({ getItem: (k) => mmkv.getString(k), setItem: (k, v) => mmkv.set(k, v), removeItem: (k) => mmkv.delete(k) }),
    );
    expect(mmkvItems.get('tether:offsets')).toBe('{"announcements":"e.2-0"}');
  });
});
