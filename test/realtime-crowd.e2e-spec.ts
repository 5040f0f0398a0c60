import type { Socket } from 'socket.io-client';
import { connect, request as ask } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

// A crowd on one network: a venue's Wi-Fi, an office or a carrier's NAT is one address for all
// its people, who arrive together (the start of a service). With the default settings all of
// them get in, while one client hammering reconnects is still stopped.
const CROWD = 1500;
const WAVE = 150;

describe('a crowd arriving from one address, with the default limits', () => {
  let t: TestApp;
  const sockets: Socket[] = [];
  const tid = `crowd${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp(); // no limit overridden
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it(`admits ${CROWD} people from one address, each subscribing and sending an event, and still limits one hammering user`, async () => {
    let refused = 0;
    const failures: string[] = [];
    // Waves of 150 every 200 ms: 750 a second, thirty times the 25 a second of the crowd we were shown.
    for (let start = 0; start < CROWD; start += WAVE) {
      const wave = Array.from({ length: Math.min(WAVE, CROWD - start) }, (_, i) => start + i);
      const began = Date.now();
      await Promise.all(
        wave.map(async (n) => {
          try {
            const s = await connect(t.url, await t.token({ sub: `person-${n}`, tid }));
            sockets.push(s);
            const sub = await ask(s, 'subscribe', { channels: ['announcements'] });
            const left = await ask(s, 'unsubscribe', { channels: ['announcements'] });
            if (!sub.subscribed?.length || left.error) failures.push(`person-${n}: ${JSON.stringify([sub, left])}`);
          } catch (err) {
            refused++;
            failures.push(
              `person-${n}: ${(err as { data?: unknown }).data ? JSON.stringify((err as { data: unknown }).data) : String(err)}`,
            );
          }
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - began))));
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(refused).toBe(0);
    expect(sockets).toHaveLength(CROWD);

    // One user reconnecting in a loop: the per-user limit (60 a minute) stops them, with a Retry-After.
    const token = await t.token({ sub: 'hammer', tid });
    const answers: string[] = [];
    // 130 attempts: at most 120 can pass even if a minute window turns over meanwhile.
    for (let i = 0; i < 130; i++) {
      const outcome = await connect(t.url, token).then(
        (s) => (s.close(), 'ok'),
        (err: { data?: { code?: string; retryAfter?: number } }) => `${err.data?.code}:${err.data?.retryAfter !== undefined}`,
      );
      answers.push(outcome);
    }
    const refusals = answers.filter((a) => a !== 'ok');
    expect(refusals.length).toBeGreaterThanOrEqual(10);
    expect(new Set(refusals)).toEqual(new Set(['rate_limited:true']));
    expect(answers.slice(0, 60)).toEqual(Array(60).fill('ok'));
  }, 90_000);
});
