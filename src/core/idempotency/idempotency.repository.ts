import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TenantScope } from '../database/tenant-scope';

export interface KeyScope {
  tenantId: string;
  userId: string;
  key: string;
}

export interface StoredResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A key as found when it could not be claimed: someone else's request, running or answered. */
export interface KeyHolder {
  fingerprint: string;
  method: string;
  path: string;
  response?: StoredResponse;
}

/** TypeORM answers UPDATE and DELETE with [rows, count]; everything else with rows. */
function affected(result: unknown): number {
  const r = result as unknown[];
  return r.length === 2 && typeof r[1] === 'number' ? r[1] : 0;
}

/** SQL of the idempotency_keys table (PostgreSQL only: it keeps working while Redis is away). */
@Injectable()
export class IdempotencyRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Takes the key for this request, or returns who holds it. A key is free when new, expired, or
   * held by the same request (same fingerprint) whose lock ran out (its process died mid-request).
   */
  async claim(
    scope: KeyScope,
    request: { fingerprint: string; method: string; path: string },
    lockMs: number,
    ttlMs: number,
  ): Promise<KeyHolder | 'claimed'> {
    const rows: { claimed: boolean }[] = await this.ds.query(
      `INSERT INTO idempotency_keys AS k (tenant_id, user_id, key, fingerprint, method, path, locked_until, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond', now() + $8 * interval '1 millisecond')
       ON CONFLICT (tenant_id, user_id, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, path = EXCLUDED.path,
             status_code = NULL, response_headers = NULL, response_body = NULL,
             locked_until = EXCLUDED.locked_until, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE k.expires_at <= now()
            OR (k.status_code IS NULL AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint)
       RETURNING true AS claimed`,
      [scope.tenantId, scope.userId, scope.key, request.fingerprint, request.method, request.path, lockMs, ttlMs],
    );
    if (rows.length) return 'claimed';
    const held: {
      fingerprint: string;
      method: string;
      path: string;
      status_code: number | null;
      response_headers: Record<string, string> | null;
      response_body: string | null;
    }[] = await this.ds.query(
      `SELECT fingerprint, method, path, status_code, response_headers, response_body FROM idempotency_keys
       WHERE tenant_id = $1 AND user_id = $2 AND key = $3`,
      [scope.tenantId, scope.userId, scope.key],
    );
    // Gone between the two statements (deleted by a failed first request): try again.
    if (!held.length) return this.claim(scope, request, lockMs, ttlMs);
    const [row] = held;
    return {
      fingerprint: row.fingerprint,
      method: row.method,
      path: row.path,
      response:
        row.status_code === null
          ? undefined
          : { statusCode: row.status_code, headers: row.response_headers ?? {}, body: row.response_body ?? '' },
    };
  }

  /** Keeps the first response of a claimed key. */
  async complete(scope: KeyScope, response: StoredResponse): Promise<void> {
    await this.ds.query(
      `UPDATE idempotency_keys SET status_code = $4, response_headers = $5, response_body = $6, locked_until = NULL
       WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status_code IS NULL`,
      [scope.tenantId, scope.userId, scope.key, response.statusCode, JSON.stringify(response.headers), response.body],
    );
  }

  /** Frees a claimed key whose request got no answer worth keeping (5xx, client gone): a retry runs again. */
  async release(scope: KeyScope): Promise<void> {
    await this.ds.query(`DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status_code IS NULL`, [
      scope.tenantId,
      scope.userId,
      scope.key,
    ]);
  }

  /** Deletes expired keys, if no other process is doing it right now; returns how many (or null: another process had the turn). */
  deleteExpired(): Promise<number | null> {
    // Every tenant's expired keys: a system task (row-level security).
    return TenantScope.system('idempotency cleanup', () =>
      this.ds.transaction(async (em) => {
        const [{ locked }] = await em.query(`SELECT pg_try_advisory_xact_lock(hashtext('tether:idempotency:cleanup')) AS locked`);
        if (!locked) return null;
        return affected(await em.query(`DELETE FROM idempotency_keys WHERE expires_at <= now()`));
      }),
    );
  }
}
