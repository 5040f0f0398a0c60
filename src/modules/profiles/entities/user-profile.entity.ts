import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A user's display names in a tenant: the host's choice and the one last seen in their token. */
@Entity('user_profiles')
export class UserProfile {
  @PrimaryColumn({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 128 })
  userId: string;

  /** Set by the host (PUT /users/:userId/profile); first in the order. */
  @Column({ name: 'display_name', type: 'varchar', length: 100, nullable: true })
  displayName: string | null;

  /** The name claim of the user's last verified token that carried one. */
  @Column({ name: 'token_name', type: 'varchar', length: 100, nullable: true })
  tokenName: string | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
