import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A tenant is an app's customer (a church, a venue chain...); `tid` in every access token. */
@Entity('tenants')
export class Tenant {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
