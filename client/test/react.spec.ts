import { act, createElement, Fragment } from 'react';
import TestRenderer, { ReactTestRenderer } from 'react-test-renderer';
import { TetherClient } from '../src/client';
import { TetherProvider, useChannelEvent, useConnectionState, useQueueStatus, useTether } from '../src/react';
import { Emitter } from '../src/emitter';
import { startTestApp, TestApp } from '../../test/support/test-app';
import { broadcast } from '../../test/support/broadcast';
import { eventually } from '../../tools/scratch';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** The offline queue as useQueueStatus sees it (`tether.mutations` comes from the data part of the SDK). */
class StatusQueue extends Emitter<{ status: (s: { count: number; processing: boolean }) => void }> {
  status = { count: 0, processing: false };
  set(count: number, processing: boolean) {
    this.status = { count, processing };
    this.emit('status', this.status);
  }
}

describe('React bindings (real server)', () => {
  let t: TestApp;
  const tid = `sdkreact${Date.now().toString(36)}`;
  let tether: TetherClient;
  let renderer: ReactTestRenderer | undefined;

  beforeAll(async () => {
    // React 19 warns once that react-test-renderer is deprecated (it still runs hooks as React does),
    // and about updates outside act(): here they come from a real server's socket, awaited with eventually().
    const print = console.error.bind(console);
    jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      const text = String(args[0]);
      if (!text.includes('react-test-renderer is deprecated') && !text.includes('not wrapped in act(')) print(...args);
    });
    t = await startTestApp();
  });
  beforeEach(() => {
    tether = new TetherClient({ url: t.url, token: () => t.token({ sub: 'rea', tid }), polling: false });
  });
  afterEach(async () => {
    await act(async () => renderer?.unmount());
    renderer = undefined;
    tether.close();
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
  });

  const render = async (children: React.ReactNode, client: TetherClient = tether) => {
    await act(async () => {
      renderer = TestRenderer.create(createElement(TetherProvider, { client }, children));
    });
  };

  it('useConnectionState follows the client: closed, connecting, connected, closed', async () => {
    const seen: string[] = [];
    function State() {
      const state = useConnectionState();
      if (seen[seen.length - 1] !== state) seen.push(state);
      return createElement(Fragment, null, state);
    }
    await render(createElement(State));
    expect(renderer!.toJSON()).toBe('closed');
    await act(async () => tether.connect());
    await eventually(() => (renderer!.toJSON() as unknown) === 'connected');
    await act(async () => tether.close());
    expect(renderer!.toJSON()).toBe('closed');
    expect(seen).toEqual(['closed', 'connecting', 'connected', 'closed']);
  });

  it('useChannelEvent subscribes on mount, calls the latest handler with (payload, meta), and leaves on unmount', async () => {
    const got: [string, unknown, string | undefined][] = [];
    let label = 'first';
    function Listener({ name }: { name: string }) {
      useChannelEvent('announcements', 'announcement:new', (payload, meta) => got.push([name, payload, meta.channel]));
      return null;
    }
    tether.connect();
    await render(createElement(Listener, { name: label }));
    const sub = tether.subscribe('announcements');
    sub.unsubscribe(); // only peeks at the shared subscription: the component's reference keeps it
    await eventually(() => sub.state === 'subscribed');

    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
    await eventually(() => got.length === 1);
    label = 'second';
    await act(async () => renderer!.update(createElement(TetherProvider, { client: tether }, createElement(Listener, { name: label }))));
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 2 });
    await eventually(() => got.length === 2);
    expect(got).toEqual([
      ['first', { n: 1 }, 'announcements'],
      ['second', { n: 2 }, 'announcements'],
    ]);

    await act(async () => renderer!.unmount());
    renderer = undefined;
    expect(sub.state).toBe('closed');
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 3 });
    await act(() => new Promise((r) => setTimeout(r, 200)));
    expect(got).toHaveLength(2);
  });

  it('useTether throws outside a provider', () => {
    function Orphan() {
      useTether();
      return null;
    }
    expect(() => act(() => void TestRenderer.create(createElement(Orphan)))).toThrow(/TetherProvider/);
  });

  it('useQueueStatus shows what the client’s own queue holds', async () => {
    function Status() {
      const { count } = useQueueStatus();
      return createElement(Fragment, null, String(count));
    }
    await render(createElement(Status));
    expect(renderer!.toJSON()).toBe('0');
    // Not connected: the queue keeps the item.
    await act(async () => void tether.mutations.enqueue('checkins', { serviceId: 's1', checkinTime: new Date().toISOString() }));
    expect(renderer!.toJSON()).toBe('1');
  });

  it('useQueueStatus reads tether.mutations.status and re-renders on its `status` events', async () => {
    // Any queue with `status` and a `status` event, as the hook reads it (here with `processing` under the test's control).
    const queue = new StatusQueue();
    const client = { mutations: queue } as unknown as TetherClient;
    queue.set(2, false);
    function Status() {
      const { count, processing } = useQueueStatus();
      return createElement(Fragment, null, `${count}:${processing}`);
    }
    await render(createElement(Status), client);
    expect(renderer!.toJSON()).toBe('2:false');
    await act(async () => queue.set(3, true));
    expect(renderer!.toJSON()).toBe('3:true');
    await act(async () => queue.set(0, false));
    expect(renderer!.toJSON()).toBe('0:false');
  });
});
