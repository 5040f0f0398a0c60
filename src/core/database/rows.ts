/** TypeORM answers UPDATE and DELETE on PostgreSQL with [rows, count], everything else with rows. */
export function rowsOf<T = unknown>(result: unknown): T[] {
  const r = result as unknown[];
  return r.length === 2 && Array.isArray(r[0]) && typeof r[1] === 'number' ? (r[0] as T[]) : (r as T[]);
}
