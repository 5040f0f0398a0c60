import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium, Locator, Page, WebSocketRoute } from 'playwright-core';
import { signDevToken } from '../src/core/auth/dev-token';
import { freePort, NodeProcess, sleep, spawnApp, stopChild, waitReady } from '../tools/scratch';

// The demo page in Debian's Chromium, driven by playwright-core: two browser contexts as two users
// of the built app; the second one's socket is cut and it keeps up through the SDK's polling.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
/** Screenshots land here (docs/demo-*.png are chosen from them by hand). */
const SHOTS = process.env.DEMO_SCREENSHOTS_DIR ?? join(tmpdir(), 'tether-demo-screenshots');
/** How long anything the page shows may take (a loaded 2-core CI machine runs this beside other suites). */
const WAIT = 15_000;
/** Fast fallback and reconnect, so the test does not wait for the SDK's production defaults. */
const PAGE_OPTIONS = 'pollMs=1000&afterFailures=2&reconnectMinMs=200&reconnectMaxMs=1000';

describe('demo page in Chromium', () => {
  let url: string;
  let app: NodeProcess;
  let browser: Browser;

  beforeAll(async () => {
    // No skip: CI installs Chromium (.ci/run); a machine without it fails here, saying so.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium`);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    app = spawnApp({ PORT: String(port), LOG_LEVEL: 'silent', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200' });
    await waitReady(`${url}/health/ready`, app);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(SHOTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (app) await stopChild(app.child);
  }, 30_000);

  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 580 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`));
    return page;
  }

  async function signIn(page: Page, userId: string): Promise<void> {
    await page.goto(`${url}/demo?${PAGE_OPTIONS}`);
    await page.getByTestId('user-id').fill(userId);
    await page.getByTestId('sign-in-button').click();
    await expectState(page, 'connected');
  }

  async function openChat(page: Page, peer: string): Promise<void> {
    await page.getByTestId('peer').fill(peer);
    await page.getByTestId('open-chat').click();
    await page.getByTestId('chat').waitFor();
  }

  const message = (page: Page, text: string): Locator => page.getByTestId('message').filter({ hasText: text });
  const expectState = (page: Page, state: string, timeout = WAIT) =>
    page.waitForSelector(`[data-testid="state"][data-state="${state}"]`, { timeout });
  const textOf = (locator: Locator) => locator.textContent({ timeout: WAIT });
  async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  it('chats live between two users, keeps receiving through polling when the socket fails, and returns to the socket without duplicates', async () => {
    const alice = await openPage();
    const bob = await openPage();
    // Bob's WebSockets pass through the test, which can cut them and refuse new ones.
    let blocked = false;
    const bobSockets: WebSocketRoute[] = [];
    await bob.routeWebSocket(/\/socket\.io\//, (ws) => {
      if (blocked) return void ws.close({ code: 1011, reason: 'blocked by the test' });
      ws.connectToServer();
      bobSockets.push(ws);
    });

    // Alice's page is left alone: its socket is a real WebSocket (the page's CSP allows it).
    const aliceSockets: string[] = [];
    alice.on('websocket', (ws) => aliceSockets.push(ws.url()));

    await signIn(alice, 'alice');
    await signIn(bob, 'bob');
    expect(await textOf(alice.getByTestId('me'))).toBe('signed in as alice');
    expect(aliceSockets).toEqual([expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\/socket\.io\/\?.*transport=websocket/)]);

    // Live counts: a check-in on Alice's page moves the counts on both pages.
    await alice.getByTestId('check-in').click();
    for (const page of [alice, bob]) await page.getByTestId('count-row').locator('.total', { hasText: '1' }).waitFor({ timeout: WAIT });
    await alice.getByTestId('check-in').click();
    await bob.getByTestId('count-row').locator('.total', { hasText: '2' }).waitFor({ timeout: WAIT });

    // Announcements: posted by Alice (a leader), shown on Bob's page.
    await alice.getByTestId('announce-title').fill('Doors open at 9:30');
    await alice.getByTestId('announce').click();
    await bob.getByTestId('announcement').filter({ hasText: 'Doors open at 9:30' }).waitFor({ timeout: WAIT });

    // The chat: each opens the direct conversation; presence shows the other online and here.
    await openChat(alice, 'bob');
    await openChat(bob, 'alice');
    await alice.waitForSelector('[data-testid="peer-presence"][data-status="online"]', { timeout: WAIT });
    await bob.waitForSelector('[data-testid="peer-presence"][data-status="online"]', { timeout: WAIT });
    await alice.getByTestId('peer-here').waitFor({ timeout: WAIT });

    // Typing shows on the other page, then the message arrives there once, and is marked read back.
    await alice.getByTestId('compose').pressSequentially('Hello Bob', { delay: 20 });
    await bob.getByTestId('typing').filter({ hasText: 'alice is typing' }).waitFor({ timeout: WAIT });
    await alice.getByTestId('send').click();
    await message(bob, 'Hello Bob').waitFor({ timeout: WAIT });
    await until(async () => (await textOf(bob.getByTestId('typing'))) === '', 'typing cleared on the message', WAIT);
    await alice.waitForSelector('[data-testid="message"].mine[data-status="read"]', { timeout: WAIT });

    await bob.getByTestId('compose').pressSequentially('Hi Alice, on my way', { delay: 10 });
    await alice.getByTestId('typing').filter({ hasText: 'bob is typing' }).waitFor({ timeout: WAIT });
    await alice.screenshot({ path: join(SHOTS, 'demo-alice-typing.png') });
    await bob.getByTestId('send').click();
    await message(alice, 'Hi Alice, on my way').waitFor({ timeout: WAIT });
    await bob.waitForSelector('[data-testid="message"].mine[data-status="read"]', { timeout: WAIT });
    await alice.screenshot({ path: join(SHOTS, 'demo-alice.png') });
    await bob.screenshot({ path: join(SHOTS, 'demo-bob.png') });

    // Bob's socket fails: open ones are cut, new ones refused, Socket.IO's long-polling aborted.
    blocked = true;
    const polled: string[] = [];
    bob.on('request', (req) => req.url().includes('/api/mobile/v1/realtime/events?') && polled.push(decodeURIComponent(req.url())));
    await bob.route('**/socket.io/**', (route) => route.abort('connectionrefused'));
    await Promise.all(bobSockets.splice(0).map((ws) => ws.close({ code: 1011, reason: 'cut by the test' }).catch(() => undefined)));
    await expectState(bob, 'polling', 20_000);

    // The next message still reaches Bob, through GET /realtime/events, while the state says polling.
    await alice.getByTestId('compose').fill('Are you still there?');
    await alice.getByTestId('send').click();
    await message(bob, 'Are you still there?').waitFor({ timeout: WAIT });
    expect(await bob.getByTestId('state').getAttribute('data-state')).toBe('polling');
    expect(polled).toContainEqual(expect.stringContaining('channel=conversation:'));
    await alice.waitForSelector('[data-testid="message"].mine[data-seq="3"][data-status="read"]', { timeout: WAIT });
    await bob.screenshot({ path: join(SHOTS, 'demo-bob-polling.png') });

    // The block is lifted: Bob's page returns to the socket and keeps going, with nothing twice.
    blocked = false;
    await bob.unroute('**/socket.io/**');
    await expectState(bob, 'connected', 20_000);
    expect(bobSockets.length).toBeGreaterThan(0); // a WebSocket again, through the route
    await alice.getByTestId('compose').fill('Back on the socket');
    await alice.getByTestId('send').click();
    await message(bob, 'Back on the socket').waitFor({ timeout: WAIT });
    await sleep(1500); // a replay of anything would show by now

    const received = await bob.getByTestId('message').evaluateAll((items) =>
      items.map((li) => ({
        seq: li.getAttribute('data-seq'),
        sender: li.getAttribute('data-sender'),
        events: li.getAttribute('data-events'),
        text: li.querySelector('.text')?.textContent,
      })),
    );
    expect(received).toEqual([
      { seq: '1', sender: 'alice', events: '1', text: 'Hello Bob' },
      { seq: '2', sender: 'bob', events: '1', text: 'Hi Alice, on my way' },
      { seq: '3', sender: 'alice', events: '1', text: 'Are you still there?' },
      { seq: '4', sender: 'alice', events: '1', text: 'Back on the socket' },
    ]);
    expect(await alice.getByTestId('message').count()).toBe(4);
  }, 120_000);

  it('says why a name is refused, and signs in with a pasted token (what production offers)', async () => {
    const page = await openPage();
    await page.goto(`${url}/demo`);
    await page.getByTestId('user-id').fill('not a user id');
    await page.getByTestId('sign-in-button').click();
    await page.getByTestId('sign-in-error').filter({ hasText: 'userId must be 1-128 of' }).waitFor({ timeout: WAIT });

    const token = await signDevToken(process.env.MOBILE_JWT_SECRET!, { sub: 'carol', tid: 'demo', roles: ['MEMBER'] }, 600);
    await page.getByTestId('token').fill(token);
    await page.getByTestId('use-token').click();
    await expectState(page, 'connected');
    expect(await textOf(page.getByTestId('me'))).toBe('signed in as carol');
    await page.context().close();
  }, 60_000);
});
