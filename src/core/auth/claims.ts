import type { AppConfig } from '../../config/app-config';
import { Role, ROLES } from './auth-user';

/** Where the caller's identity sits in the claims (JWT_*_CLAIM settings, see README "Bring your own identity provider"). */
export type ClaimMapping = AppConfig['jwt']['claims'];

/**
 * The claim at `path`: a claim of that exact name first (`cognito:groups`, Auth0's
 * `https://example.com/roles`), else a dotted path through nested objects (`app_metadata.tenant_id`).
 * Own properties only, so `__proto__` or `constructor` never resolve.
 */
export function claimAt(payload: object, path: string): unknown {
  if (Object.hasOwn(payload, path)) return (payload as Record<string, unknown>)[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Tether roles from the roles claims: mapped names first, Tether's own names as they are, others dropped. */
export function mapRoles(payload: object, mapping: Pick<ClaimMapping, 'roles' | 'roleMap' | 'defaultRoles'>): Role[] {
  const names = mapping.roles.flatMap((path) => {
    const value = claimAt(payload, path);
    return Array.isArray(value) ? value : value === undefined ? [] : [value];
  });
  const roles = new Set<Role>();
  for (const name of names) {
    if (typeof name !== 'string') continue;
    const mapped = mapping.roleMap.get(name);
    if (mapped) mapped.forEach((r) => roles.add(r));
    else if ((ROLES as readonly string[]).includes(name)) roles.add(name as Role);
  }
  return roles.size ? [...roles] : [...mapping.defaultRoles];
}
