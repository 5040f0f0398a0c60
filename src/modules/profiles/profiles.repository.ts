import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface ProfileRow {
  userId: string;
  /** Set by the host through the API. */
  displayName: string | null;
  /** Last seen in the user's access token. */
  tokenName: string | null;
}

@Injectable()
export class ProfilesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async find(tenantId: string, userIds: string[]): Promise<ProfileRow[]> {
    if (!userIds.length) return [];
    return this.ds.query(
      `SELECT user_id AS "userId", display_name AS "displayName", token_name AS "tokenName"
         FROM user_profiles WHERE tenant_id = $1 AND user_id = ANY($2::varchar[])`,
      [tenantId, userIds],
    );
  }

  async setDisplayName(tenantId: string, userId: string, name: string | null): Promise<void> {
    await this.ds.query(
      `INSERT INTO user_profiles (tenant_id, user_id, display_name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now()`,
      [tenantId, userId, name],
    );
  }

  /** Writes only when the name changed (another pod may have stored it already). */
  async setTokenName(tenantId: string, userId: string, name: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO user_profiles AS p (tenant_id, user_id, token_name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET token_name = EXCLUDED.token_name, updated_at = now()
        WHERE p.token_name IS DISTINCT FROM EXCLUDED.token_name`,
      [tenantId, userId, name],
    );
  }
}
