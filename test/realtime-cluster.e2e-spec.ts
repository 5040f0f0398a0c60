import { createConnection, createServer, Server, Socket } from 'node:net';
import { io } from 'socket.io-client';
import request from 'supertest';
import { signDevToken } from '../src/core/auth/dev-token';
import { PresenceService } from '../src/modules/realtime/presence.service';
import { eventually, freePort, NodeProcess, sleep, spawnApp, waitReady } from '../tools/scratch';
import { connect, next, request as ask, ClientSocket } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

// Two app processes on two ports sharing one Redis, as two pods would.
const POD_ENV = {
  LOG_LEVEL: 'silent',
  REALTIME_POD_TIMEOUT_MS: '3000',
  REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
  REALTIME_DRAIN_MS: '600',
};
const tid = `cluster${Date.now().toString(36)}`;
const token = (sub: string, roles = ['MEMBER']) => signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles });

async function startPod(): Promise<{ url: string; port: number; proc: NodeProcess }> {
  const port = await freePort();
  const proc = spawnApp({ ...POD_ENV, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`);
  return { url, port, proc };
}

async function broadcast(url: string, channel: string, event: string, data: object): Promise<void> {
  const res = await request(url)
    .post('/api/mobile/v1/admin/broadcast')
    .set('Authorization', `Bearer ${await token('backend', ['SERVICE'])}`)
    .send({ channel, event, data });
  expect(res.status).toBe(202);
}

async function podSockets(url: string): Promise<number> {
  const res = await request(url)
    .get('/api/mobile/v1/admin/realtime')
    .set('Authorization', `Bearer ${await token('ops', ['ADMIN'])}`);
  return (res.body as { pod: { sockets: number } }).pod.sockets;
}

describe('realtime across pods', () => {
  let a: Awaited<ReturnType<typeof startPod>>;
  let b: Awaited<ReturnType<typeof startPod>>;
  let local: TestApp; // an in-process instance on the same Redis, to call PresenceService directly
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([startPod(), startPod()]);
    local = await startTestApp(POD_ENV);
  }, 60000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const pod of [a, b]) if (pod.proc.child.exitCode === null && pod.proc.child.signalCode === null) pod.proc.child.kill('SIGTERM');
    await Promise.all([a.proc.exited, b.proc.exited]);
    await local.close();
  }, 30000);

  it('delivers a publish on pod A to a client on pod B, and the other way round', async () => {
    const onB = await connect(b.url, await token('reader-b'));
    const onA = await connect(a.url, await token('reader-a'));
    sockets.push(onA, onB);
    await ask(onB, 'subscribe', { channels: ['announcements', 'user:reader-b'] });
    await ask(onA, 'subscribe', { channels: ['announcements'] });
    const seenA: unknown[] = [];
    const seenB: unknown[] = [];
    onA.on('announcement:new', (p, m) => seenA.push([p, m.channel]));
    onB.on('announcement:new', (p, m) => seenB.push([p, m.channel]));
    await broadcast(a.url, 'announcements', 'announcement:new', { id: 'from-a' });
    await broadcast(b.url, 'announcements', 'announcement:new', { id: 'from-b' });
    const both = [
      [{ id: 'from-a' }, 'announcements'],
      [{ id: 'from-b' }, 'announcements'],
    ];
    await eventually(() => seenA.length === 2 && seenB.length === 2);
    expect(seenA).toEqual(both);
    expect(seenB).toEqual(both);
    const direct = next<any>(onB, 'notification:new');
    await broadcast(a.url, 'user:reader-b', 'notification:new', { id: 'n1' });
    expect((await direct)[0]).toEqual({ id: 'n1' });
  });

  it('tracks presence cluster-wide, and a SIGKILLed pod’s users go offline within the bound', async () => {
    const presence = local.app.get(PresenceService);
    const watcher = await connect(a.url, await token('watcher'));
    sockets.push(watcher);
    await ask(watcher, 'subscribe', { channels: ['presence:roamer'] });
    const updates: any[] = [];
    watcher.on('presence:update', (p) => updates.push(p));

    const roamer = await connect(b.url, await token('roamer'));
    await eventually(() => updates.some((u) => u.status === 'online'));
    expect(updates[0]).toEqual({ userId: 'roamer', status: 'online', lastSeen: null });
    expect(await presence.isOnline(tid, 'roamer')).toBe(true);
    expect([...(await presence.onlineUsers(tid, ['roamer', 'watcher', 'nobody']))].sort()).toEqual(['roamer', 'watcher']);

    // A second socket of the same user, then the first leaves: still online, no event.
    const roamer2 = await connect(a.url, await token('roamer'));
    roamer.close();
    await sleep(600);
    expect(updates.filter((u) => u.status === 'offline')).toEqual([]);
    roamer2.close();
    await eventually(() => updates.some((u) => u.status === 'offline'));
    expect(await presence.isOnline(tid, 'roamer')).toBe(false);

    // Now the pod dies without cleaning up.
    const doomed = await connect(b.url, await token('roamer'));
    sockets.push(doomed);
    await eventually(() => updates.filter((u) => u.status === 'online').length === 2);
    const killedAt = Date.now();
    b.proc.child.kill('SIGKILL');
    await eventually(() => updates.filter((u) => u.status === 'offline').length === 2, { timeoutMs: 20000, everyMs: 100 });
    const took = Date.now() - killedAt;
    // Pod timeout (3 s here; 20 s by default) + one heartbeat + slack for a loaded CI machine.
    expect(took).toBeLessThan(3000 + 1000 + 6000);
    expect(await presence.isOnline(tid, 'roamer')).toBe(false);
    expect(updates[updates.length - 1]).toEqual({ userId: 'roamer', status: 'offline', lastSeen: expect.any(String) });
  }, 30000);
});

describe('draining a pod on SIGTERM', () => {
  it('moves its clients to the other pod, which they reach through the load balancer', async () => {
    const [a, b] = await Promise.all([startPod(), startPod()]);
    // A minimal load balancer: each new TCP connection goes to B while B listens, else to A.
    const lb: Server = createServer((client: Socket) => {
      const route = (ports: number[]) => {
        const upstream = createConnection(ports[0], '127.0.0.1');
        const refused = () => (ports.length > 1 ? route(ports.slice(1)) : client.destroy());
        upstream.once('error', refused);
        upstream.once('connect', () => {
          upstream.off('error', refused);
          client.pipe(upstream).pipe(client);
          upstream.once('error', () => client.destroy());
          upstream.once('close', () => client.destroy());
          client.once('error', () => upstream.destroy());
          client.once('close', () => upstream.destroy());
        });
      };
      route([b.port, a.port]);
    });
    await new Promise<void>((r) => lb.listen(0, '127.0.0.1', r));
    const lbUrl = `http://127.0.0.1:${(lb.address() as { port: number }).port}`;
    const client = io(`${lbUrl}/realtime`, {
      transports: ['websocket'],
      auth: { token: await token('mover') },
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
      forceNew: true,
    });
    try {
      await next(client, 'connect');
      await eventually(async () => (await podSockets(b.url)) === 1);
      expect(await podSockets(a.url)).toBe(0);
      const reasons: string[] = [];
      client.on('disconnect', (reason) => reasons.push(reason));

      b.proc.child.kill('SIGTERM');
      const exit = await b.proc.exited;
      expect(exit.code).toBe(0);
      await eventually(() => client.connected, { timeoutMs: 10000, everyMs: 50 });
      await eventually(async () => (await podSockets(a.url)) === 1, { timeoutMs: 5000, everyMs: 100 });
      expect(reasons[0]).toBe('transport close'); // reconnectable, not "io server disconnect"
      const ack = await ask(client, 'subscribe', { channels: ['announcements'] });
      expect(ack.subscribed).toEqual(['announcements']);
    } finally {
      client.close();
      lb.close();
      a.proc.child.kill('SIGTERM');
      await a.proc.exited;
    }
  }, 40000);
});
