import { SyncCollectionDefinition, SyncRegistry } from './sync.registry';

const def = (over: Partial<SyncCollectionDefinition> = {}): SyncCollectionDefinition => ({
  name: 'notes',
  table: 'app_notes',
  columns: ['body', 'owner'],
  visibleTo: `r.owner = {user}`,
  serialize: `json_build_object('id', r.id, 'body', r.body)`,
  access: [
    { table: 'app_shares', xidColumn: 'sync_xid', userColumn: 'user_id', targetColumn: 'note_id' },
    { table: 'app_people', xidColumn: 'access_xid', userColumn: 'user_id', affects: `r.owner <> {user}` },
  ],
  ...over,
});

describe('SyncRegistry', () => {
  it('compiles one statement whose every branch stops at the watermark', () => {
    const registry = new SyncRegistry();
    registry.registerCollection(def());
    const c = registry.collection('notes');
    const branches = c.pageSql.split('UNION ALL');
    expect(branches).toHaveLength(3);
    for (const branch of branches) expect(branch).toContain('< (SELECT w.wm FROM w)');
    expect(c.pageSql).toContain('r.owner = $2');
    expect(c.pageSql).not.toContain('{user}');
    expect(c.tombstoneTables).toEqual(['app_shares', 'app_people', 'app_notes']);
    expect(registry.collectionNames()).toEqual(['notes']);
  });

  it('refuses names that are not plain identifiers, positional parameters in snippets, and duplicates', () => {
    const registry = new SyncRegistry();
    expect(() => registry.registerCollection(def({ table: 'notes; DROP TABLE x' }))).toThrow(/plain identifier/);
    expect(() => registry.registerCollection(def({ columns: ['body', 'owner"'] }))).toThrow(/plain identifier/);
    expect(() => registry.registerCollection(def({ visibleTo: 'r.owner = $2' }))).toThrow(/positional/);
    registry.registerCollection(def());
    expect(() => registry.registerCollection(def())).toThrow(/already registered/);
    expect(() => registry.collection('other')).toThrow(expect.objectContaining({ code: 'unknown_collection', status: 404 }));
  });
});
