// npm run seed:demo [-- --tid demo --port 3000]
// Creates a demo tenant (members, events, a service under way, a check-in, an RSVP) in DATABASE_URL
// and prints access tokens for an admin and a member, with commands to try the API.
// Running it again keeps the data and prints fresh tokens.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/load-config';
import { signDevToken } from '../src/core/auth/dev-token';
import { dataSourceOptions } from '../src/core/database/data-source.options';
import { ensureDatabase } from '../src/core/database/ensure-database';

const MEMBERS: [string, string, string[]][] = [
  ['demo-admin', 'Ada Admin', ['ADMIN']],
  ['demo-leader', 'Lee Leader', ['LEADER']],
  ['demo-member', 'Mia Member', ['MEMBER']],
  ['demo-member-2', 'Noah Member', ['MEMBER']],
  ['demo-member-3', 'Olga Member', ['MEMBER']],
];

async function main() {
  const { values } = parseArgs({ options: { tid: { type: 'string', default: 'demo' }, port: { type: 'string' } } });
  const tid = values.tid;
  const config = loadConfig();
  const { url, autoMigrate } = config.database;
  if (autoMigrate) await ensureDatabase(url);
  const db = new DataSource(dataSourceOptions(url));
  await db.initialize();
  try {
    if (autoMigrate) await db.runMigrations();
    await db.transaction(async (em) => {
      await em.query(`INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [tid, 'Demo church']);
      for (const [userId, name, roles] of MEMBERS)
        await em.query(
          `INSERT INTO community_members (id, tenant_id, user_id, display_name, roles) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, user_id) DO NOTHING`,
          [randomUUID(), tid, userId, name, roles],
        );
      const [{ n }] = await em.query(`SELECT count(*)::int AS n FROM community_events WHERE tenant_id = $1`, [tid]);
      if (n > 0) return;
      const day = 86_400_000;
      const at = (days: number, hour: number) => new Date(Math.floor(Date.now() / day) * day + days * day + hour * 3_600_000);
      const events: [string, string, Date, number | null, string][] = [
        ['Youth night', 'Games and pizza', at(2, 18), 40, 'public'],
        ['Choir rehearsal', 'Bring your folder', at(3, 19), null, 'public'],
        ['Community lunch', 'After the service', at(7, 12), 80, 'public'],
        ['Volunteer training', 'For the welcome team', at(9, 10), 15, 'public'],
        ['Leaders retreat', 'Invitation only', at(14, 9), 12, 'private'],
      ];
      const ids: string[] = [];
      for (const [title, description, startsAt, capacity, visibility] of events) {
        const id = randomUUID();
        ids.push(id);
        await em.query(
          `INSERT INTO community_events (id, tenant_id, title, description, location, starts_at, ends_at, capacity, visibility, created_by)
           VALUES ($1, $2, $3, $4, 'Main hall', $5, $6, $7, $8, 'demo-admin')`,
          [id, tid, title, description, startsAt, new Date(startsAt.getTime() + 2 * 3_600_000), capacity, visibility],
        );
      }
      // The member is invited to the private event: it shows up in their sync.
      await em.query(`INSERT INTO community_event_invites (event_id, user_id, tenant_id) VALUES ($1, 'demo-member', $2)`, [ids[4], tid]);
      const serviceId = randomUUID();
      await em.query(
        `INSERT INTO community_services (id, tenant_id, name, location, starts_at, ends_at, created_by)
         VALUES ($1, $2, 'Sunday service', 'Main hall', now() - interval '30 minutes', now() + interval '90 minutes', 'demo-admin')`,
        [serviceId, tid],
      );
      await em.query(
        `INSERT INTO community_checkins (id, tenant_id, service_id, user_id, checkin_time, recorded_by, client_updated_at)
         VALUES ($1, $2, $3, 'demo-member-2', now() - interval '20 minutes', 'demo-member-2', now() - interval '20 minutes')`,
        [randomUUID(), tid, serviceId],
      );
      await em.query(
        `INSERT INTO community_rsvps (id, tenant_id, event_id, user_id, status, client_updated_at) VALUES ($1, $2, $3, 'demo-member-2', 'going', now())`,
        [randomUUID(), tid, ids[0]],
      );
    });
    const [service] = await db.query(
      `SELECT id FROM community_services WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY starts_at DESC LIMIT 1`,
      [tid],
    );

    const { algorithm, secret } = config.jwt;
    const base = `http://localhost:${values.port ?? config.port}/api/mobile/v1`;
    const out = (line = '') => process.stdout.write(line + '\n');
    out(`Demo tenant "${tid}" is ready in ${new URL(url).pathname.slice(1)}.`);
    if (algorithm !== 'HS256' || !secret) {
      out('JWT_ALGORITHM is not HS256: issue tokens with your identity provider (sub, tid, roles).');
      return;
    }
    const day = 24 * 3600;
    const admin = await signDevToken(secret, { sub: 'demo-admin', tid, roles: ['ADMIN'] }, day);
    const member = await signDevToken(secret, { sub: 'demo-member', tid, roles: ['MEMBER'] }, day);
    out();
    out(`ADMIN=${admin}`);
    out(`MEMBER=${member}`);
    out();
    out('Try (tokens valid for 24 hours):');
    out(`  curl -H "Authorization: Bearer $MEMBER" ${base}/sync/events`);
    out(`  curl -H "Authorization: Bearer $MEMBER" "${base}/sync/changes?collections=events,members,rsvps,checkins"`);
    out(`  curl -H "Authorization: Bearer $MEMBER" ${base}/live/service-counts`);
    out(
      `  curl -X POST -H "Authorization: Bearer $MEMBER" -H 'Content-Type: application/json' ${base}/sync/checkins/bulk \\\n` +
        `       -d '{"checkins":[{"serviceId":"${service?.id}","checkinTime":"'$(date -u +%FT%TZ)'","offlineId":"demo-1"}],"conflictResolution":"last-write-wins"}'`,
    );
    out(
      `  curl -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' ${base}/announcements \\\n` +
        `       -d '{"title":"Welcome","content":"Glad you are here","priority":"normal"}'`,
    );
    out(`  API docs: http://localhost:${values.port ?? config.port}/docs`);
  } finally {
    await db.destroy();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`seed:demo failed: ${err.message}\n`);
  process.exit(1);
});
