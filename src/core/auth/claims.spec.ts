import { claimAt, mapRoles } from './claims';
import type { Role } from './auth-user';

const mapping = (roles: string[], map: Record<string, Role[]> = {}, defaultRoles: Role[] = []) => ({
  roles,
  roleMap: new Map(Object.entries(map)),
  defaultRoles,
});

describe('claimAt', () => {
  const payload = {
    tid: 't1',
    'cognito:groups': ['admins'],
    'https://tether.example.com/roles': ['LEADER'],
    app_metadata: { tenant_id: 'acme', roles: ['ADMIN'], nested: { deep: 'x' } },
    'a.b': 'literal wins',
    a: { b: 'path' },
  };

  it('reads a claim by its exact name, colons and URLs included', () => {
    expect(claimAt(payload, 'tid')).toBe('t1');
    expect(claimAt(payload, 'cognito:groups')).toEqual(['admins']);
    expect(claimAt(payload, 'https://tether.example.com/roles')).toEqual(['LEADER']);
  });

  it('follows dotted paths, preferring a claim literally named with the dots', () => {
    expect(claimAt(payload, 'app_metadata.tenant_id')).toBe('acme');
    expect(claimAt(payload, 'app_metadata.nested.deep')).toBe('x');
    expect(claimAt(payload, 'a.b')).toBe('literal wins');
  });

  it('finds nothing through missing parts, arrays or the prototype', () => {
    expect(claimAt(payload, 'app_metadata.missing.deep')).toBeUndefined();
    expect(claimAt(payload, 'cognito:groups.0')).toBeUndefined();
    expect(claimAt(payload, '__proto__')).toBeUndefined();
    expect(claimAt(payload, 'app_metadata.constructor')).toBeUndefined();
    expect(claimAt(payload, 'tid.length')).toBeUndefined();
  });
});

describe('mapRoles', () => {
  it("keeps Tether's own names, maps the provider's, drops the rest", () => {
    const supabase = { role: 'authenticated' };
    expect(mapRoles(supabase, mapping(['role'], { authenticated: ['MEMBER'], service_role: ['SERVICE'] }))).toEqual(['MEMBER']);
    expect(mapRoles({ roles: ['MEMBER', 'LEADER', 'OWNER'] }, mapping(['roles']))).toEqual(['MEMBER', 'LEADER']);
    expect(mapRoles({ 'cognito:groups': ['admins', 'x'] }, mapping(['cognito:groups'], { admins: ['ADMIN', 'LEADER'] }))).toEqual([
      'ADMIN',
      'LEADER',
    ]);
  });

  it('merges several claims without duplicates', () => {
    const payload = { role: 'authenticated', app_metadata: { roles: ['LEADER', 'MEMBER'] } };
    expect(mapRoles(payload, mapping(['role', 'app_metadata.roles'], { authenticated: ['MEMBER'] }))).toEqual(['MEMBER', 'LEADER']);
  });

  it('gives the default roles only when nothing maps, and ignores non-strings', () => {
    expect(mapRoles({}, mapping(['roles'], {}, ['MEMBER']))).toEqual(['MEMBER']);
    expect(mapRoles({ roles: [1, { a: 1 }, null] }, mapping(['roles'], {}, ['MEMBER']))).toEqual(['MEMBER']);
    expect(mapRoles({ roles: 'ADMIN' }, mapping(['roles'], {}, ['MEMBER']))).toEqual(['ADMIN']);
    expect(mapRoles({}, mapping(['roles']))).toEqual([]);
  });
});
