// What row-level security costs PostgreSQL itself, without the app and the machine's noise around
// it: the statements of the sync feed and of a message send, run alternately as the tables' owner
// (no policy applies) and as tether_app (the tenant policy of migration 1764400000000 applies), on
// two connections of one process, in interleaved blocks; and the one round trip a pooled
// connection pays when it changes tenant. See bench/README.md.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import 'reflect-metadata';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { MessagingRepository } from '../../src/modules/messaging/messaging.repository';
import { LOAD_EVENTS_SQL, NIL_ID, RAW_PAGE_SQL } from '../sync/queries';
import { createDatabase, median, newWorld, runBenchmark, table } from '../../tools/scratch';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    tenants: { type: 'string', default: '20' },
    blocks: { type: 'string', default: '20' },
    'per-block': { type: 'string', default: '200' },
  },
});
const EVENTS = Number(args.events);
const BLOCKS = Number(args.blocks);
const PER_BLOCK = Number(args['per-block']);
const TENANT = 'bench';

const world = newWorld('bench', 'rls');
const clients: Client[] = [];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function connect(role?: string): Promise<Client> {
  const c = new Client({ connectionString: world.db.url });
  await c.connect();
  clients.push(c);
  if (role) await c.query(`SELECT set_config('role', $1, false), set_config('tether.tenant_id', $2, false)`, [role, TENANT]);
  return c;
}

/** A message send as messaging's prepared statement does it, reduced to its writes: the message and the conversation's seq. */
const SEND_SQL = `
  WITH c AS (UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now() WHERE id = $1 AND tenant_id = $2 RETURNING last_seq)
  INSERT INTO messages (id, tenant_id, conversation_id, sender_id, seq, kind, content, client_message_id)
  SELECT $3, $2, $1, 'bench-u', c.last_seq, 'text', 'hello', $4 FROM c RETURNING seq`;

/** The statement MessagingRepository.send runs (captured from the repository, not copied), and its values for one send. */
async function appSendStatement(conversation: string): Promise<{ text: string; values: (id: string) => unknown[] }> {
  let captured: { text: string; values: unknown[] } | undefined;
  const pool = { query: (config: { text: string; values: unknown[] }) => ((captured = config), Promise.resolve({ rows: [] })) };
  const repo = new MessagingRepository({ driver: { master: pool } } as unknown as DataSource);
  const outbox = {
    channel: `conversation:${conversation}`,
    channelKey: `${TENANT}:conversation:${conversation}`,
    userChannelPrefix: 'user:',
    kind: 'realtime',
  };
  await repo.send(TENANT, conversation, 'bench-u', { id: NIL_ID, clientMessageId: NIL_ID, kind: 'text', content: 'hello' }, outbox);
  const template = captured!.values;
  // Positions 4 and 5 are the message's id and clientMessageId: new for each send.
  return { text: captured!.text, values: (id) => template.map((v, i) => (i === 3 || i === 4 ? id : v)) };
}

async function main(): Promise<void> {
  await createDatabase(world.db, { migrate: true });
  const owner = await connect();
  for (let t = 0; t < Number(args.tenants); t++) await owner.query(LOAD_EVENTS_SQL, [`other-${t}`, 1, 1000]);
  await owner.query(LOAD_EVENTS_SQL, [TENANT, 1, EVENTS]);
  const conversation = randomUUID();
  await owner.query(`INSERT INTO conversations (id, tenant_id, type, created_by) VALUES ($1, $2, 'group', 'bench-u')`, [
    conversation,
    TENANT,
  ]);
  for (const user of ['bench-u', 'bench-v', 'bench-w'])
    await owner.query(`INSERT INTO conversation_participants (conversation_id, user_id, tenant_id, role) VALUES ($1, $2, $3, 'member')`, [
      conversation,
      user,
      TENANT,
    ]);
  const appSend = await appSendStatement(conversation);
  await owner.query(`VACUUM ANALYZE`);
  const app = await connect('tether_app');

  const { rows: cursorRows } = await owner.query(
    `SELECT sync_xid, id FROM community_events WHERE tenant_id = $1 ORDER BY sync_xid, id OFFSET $2 LIMIT 1`,
    [TENANT, Math.floor(EVENTS * 0.9)],
  );
  const deep = cursorRows[0] as { sync_xid: string; id: string };
  const work: Record<string, (c: Client) => Promise<unknown>> = {
    'sync page 1 (500 rows)': (c) => c.query({ name: 'p', text: RAW_PAGE_SQL, values: [TENANT, 0, NIL_ID, 500] }),
    'sync deep page (500 rows)': (c) => c.query({ name: 'p', text: RAW_PAGE_SQL, values: [TENANT, deep.sync_xid, deep.id, 500] }),
    'message send (UPDATE + INSERT)': (c) => {
      const id = randomUUID();
      return c.query({ name: 's', text: SEND_SQL, values: [conversation, TENANT, id, id] });
    },
    "the app's message send (messaging.send, 3 participants, outbox row)": (c) =>
      c.query({ name: 'a', text: appSend.text, values: appSend.values(randomUUID()) }),
  };
  const rows: string[][] = [];
  for (const [what, run] of Object.entries(work)) {
    const times: Record<'owner' | 'app', number[]> = { owner: [], app: [] };
    for (let b = 0; b < BLOCKS * 2; b++) {
      // Alternate who goes first, so drift over time falls on both sides alike.
      const side = (b + Math.floor(b / 2)) % 2 ? 'app' : 'owner';
      const c = side === 'app' ? app : owner;
      const t0 = now();
      for (let i = 0; i < PER_BLOCK; i++) await run(c);
      times[side].push((now() - t0) / PER_BLOCK);
      await owner.query(`DELETE FROM outbox`); // the relay's part: the sends' outbox rows do not pile up
    }
    const [o, a] = [median(times.owner), median(times.app)];
    rows.push([what, `${(o * 1000).toFixed(0)} us`, `${(a * 1000).toFixed(0)} us`, `${(a / o).toFixed(3)} x`]);
    log(`  ${what}: owner ${o.toFixed(3)} ms, tether_app ${a.toFixed(3)} ms`);
  }
  // A checkout for another tenant than the connection last served: one SELECT set_config(...).
  const switches: number[] = [];
  const selects: number[] = [];
  for (let b = 0; b < BLOCKS; b++) {
    let t0 = now();
    for (let i = 0; i < PER_BLOCK; i++)
      await app.query({ name: 'x', text: `SELECT set_config('tether.tenant_id', $1, false)`, values: [i % 2 ? TENANT : 'other-1'] });
    switches.push((now() - t0) / PER_BLOCK);
    t0 = now();
    for (let i = 0; i < PER_BLOCK; i++) await app.query({ name: 'y', text: 'SELECT 1' });
    selects.push((now() - t0) / PER_BLOCK);
  }
  rows.push([
    'tenant change on checkout (set_config) vs SELECT 1',
    `${(median(selects) * 1000).toFixed(0)} us`,
    `${(median(switches) * 1000).toFixed(0)} us`,
    `${(median(switches) / median(selects)).toFixed(3)} x`,
  ]);
  process.stdout.write(
    `\nrow-level security, statement cost: owner (no policy) vs tether_app (tenant policy); ${EVENTS} events of the tenant + ${args.tenants} x 1000 of others; median of ${BLOCKS} blocks of ${PER_BLOCK}\n`,
  );
  process.stdout.write(`${table(['statement', 'owner', 'tether_app', 'ratio'], rows, { left: [0] })}\n`);
}

runBenchmark('row-level security bench', world, main, () => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
