import type { AuthUser } from '../../core/auth/auth-user';
import type { SocketContext } from './client-event.registry';
import type { RealtimeService } from './realtime.service';
import { TypingRelay, typingChannel } from './typing-relay';

describe('TypingRelay', () => {
  const user = { userId: 'ann', tenantId: 't1' } as AuthUser;
  let emitted: unknown[][];
  let relay: TypingRelay;

  beforeEach(() => {
    jest.useFakeTimers();
    emitted = [];
    // Records what would go out live; the relay's rules are what is under test.
    const realtime = { emitLive: (...args: unknown[]) => void emitted.push(args) } as unknown as RealtimeService;
    relay = new TypingRelay(realtime);
  });
  afterEach(() => {
    relay.onApplicationShutdown();
    jest.useRealTimers();
  });

  it('relays REST typing throttled, skipping the sender’s own sockets, and stops it after 5 s of silence', () => {
    relay.fromUser(user, 'conversation:c1', true);
    relay.fromUser(user, 'conversation:c1', true); // within 2 s: not relayed again
    const skip = { exceptChannels: ['user:ann'], volatile: true };
    expect(emitted).toEqual([['t1', ['conversation:c1'], 'typing:start', { channel: 'conversation:c1', userId: 'ann' }, skip]]);
    jest.advanceTimersByTime(4999);
    expect(emitted).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(emitted[1]).toEqual(['t1', ['conversation:c1'], 'typing:stop', { channel: 'conversation:c1', userId: 'ann' }, skip]);
    relay.fromUser(user, 'conversation:c1', false); // a stop this pod did not see started is relayed too
    expect(emitted.map((e) => e[2])).toEqual(['typing:start', 'typing:stop', 'typing:stop']);
  });

  it('relays a socket’s typing to the channel except that socket, and stops it when the socket closes', () => {
    const ctx = { socketId: 's1', user, channels: new Set(['announcements']) } as unknown as SocketContext;
    expect(relay.fromSocket(ctx, 'announcements', true)).toEqual({ ok: true });
    expect(() => relay.fromSocket(ctx, 'service:counts', true)).toThrow(expect.objectContaining({ code: 'not_subscribed' }));
    relay.socketClosed('s1');
    relay.socketClosed('s1');
    const except = { exceptSocketId: 's1', volatile: true };
    expect(emitted).toEqual([
      ['t1', ['announcements'], 'typing:start', { channel: 'announcements', userId: 'ann' }, except],
      ['t1', ['announcements'], 'typing:stop', { channel: 'announcements', userId: 'ann' }, except],
    ]);
  });

  it('also relays to the audience of the channel’s prefix in their user rooms, never to the typist, looking it up once per 5 s', async () => {
    const lookups: string[] = [];
    relay.audience('conversation:', async (tenantId, channel) => {
      lookups.push(`${tenantId}|${channel}`);
      return ['ann', 'bob', 'cy'];
    });
    relay.fromUser(user, 'conversation:c1', true);
    relay.fromUser(user, 'conversation:c1', false);
    relay.fromUser(user, 'announcements', true); // no audience for this prefix
    await Promise.resolve();
    await Promise.resolve();
    const toRooms = { exceptChannels: ['conversation:c1'], volatile: true };
    const payload = { channel: 'conversation:c1', userId: 'ann' };
    expect(emitted.filter((e) => (e[1] as string[])[0].startsWith('user:'))).toEqual([
      ['t1', ['user:bob', 'user:cy'], 'typing:start', payload, toRooms],
      ['t1', ['user:bob', 'user:cy'], 'typing:stop', payload, toRooms],
    ]);
    expect(lookups).toEqual(['t1|conversation:c1']);
    jest.advanceTimersByTime(5000);
    relay.fromUser(user, 'conversation:c1', true);
    expect(lookups).toHaveLength(2);
  });
});

describe('typingChannel (the ids apps send)', () => {
  const prefixes = ['conversation', 'activity'];
  const inChannels = (...names: string[]) => new Set(names);

  it('takes {channel} as is and {conversationId} as conversation:<id>', () => {
    expect(typingChannel({ channel: 'activity:7' }, inChannels(), prefixes)).toBe('activity:7');
    expect(typingChannel({ conversationId: 'c1' }, inChannels(), prefixes)).toBe('conversation:c1');
  });

  it('maps {chatId} onto the first prefix whose channel the socket is in, else the first prefix', () => {
    expect(typingChannel({ chatId: '123' }, inChannels('activity:123'), prefixes)).toBe('activity:123');
    expect(typingChannel({ chatId: 123 }, inChannels('activity:123', 'conversation:123'), prefixes)).toBe('conversation:123');
    expect(typingChannel({ chatId: '123' }, inChannels(), prefixes)).toBe('conversation:123');
    expect(typingChannel({ chatId: '5' }, inChannels('booking:5'), ['booking'])).toBe('booking:5');
  });

  it('refuses anything else with invalid_payload', () => {
    for (const bad of [undefined, null, 'x', {}, { chatId: '' }, { chatId: 'a b' }, { chatId: 1.5 }, { channel: 'Not A Channel' }])
      expect(() => typingChannel(bad, inChannels(), prefixes)).toThrow(expect.objectContaining({ code: 'invalid_payload' }));
  });
});
