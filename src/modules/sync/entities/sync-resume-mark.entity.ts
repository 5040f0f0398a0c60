import { Entity, PrimaryColumn } from 'typeorm';

/**
 * Where a pull without a cursor ended, under the `timestamp` it answered: a later
 * `updatedAfter=<that timestamp>` resumes exactly there (the church app's clients keep only the time).
 */
@Entity('sync_resume_marks')
export class SyncResumeMark {
  @PrimaryColumn({ type: 'varchar', length: 64, primaryKeyConstraintName: 'sync_resume_marks_pk' })
  collection: string;

  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'sync_resume_marks_pk' })
  at: Date;

  @PrimaryColumn({ type: 'bigint', primaryKeyConstraintName: 'sync_resume_marks_pk' })
  x: string;

  @PrimaryColumn({ name: 'row_id', type: 'uuid', primaryKeyConstraintName: 'sync_resume_marks_pk' })
  rowId: string;
}
