/**
 * The events the server emits: realistic JSON (Tether-like field names, chat text drawn from a
 * vocabulary, random ids), different for every event, the same for every run and mode (a seeded
 * generator). Different events matter: ws keeps the deflate context between messages (context
 * takeover), so repeating one payload would compress unrealistically well.
 * - small (~300 B): one `message:new`, below ws's 1,024-byte threshold (never compressed);
 * - typical (~2 KB): a `message:new` with a longer text, a link preview, reactions and read receipts;
 * - large (~30 KB): a sync page of 60 events, as GET /sync returns it.
 */

export type Kind = 'small' | 'typical' | 'large';
/** The room every client joins and the event the server emits to it: (meta: { i, at }, payload). */
export const ROOM = 'everyone';
export const EVENT = 'ev';
export const KINDS: Kind[] = ['small', 'typical', 'large'];

/** mulberry32: a small seeded generator, so both modes emit the very same events. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a to and of in is it you that for on with this be are was have at not we can do so just but ' +
  'meeting tomorrow today tonight morning afternoon call later thanks thank great sounds good okay ' +
  'sure maybe please send file report draft review update deploy release build test fix bug issue ' +
  'customer team project plan budget invoice order delivery address shipping price discount week ' +
  'monday tuesday wednesday thursday friday weekend lunch dinner coffee office home train late early ' +
  'ticket support question answer link document photo video screenshot slides agenda notes minutes ' +
  'yes no definitely probably should would could will let me know when where what how why who ' +
  'about after before again also already almost always back because better check done from here ' +
  'into more most much need next only other over same see some still than then there they those'
).split(' ');
const NAMES = ['Alice', 'Bob', 'Chen', 'Dara', 'Emil', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun', 'Keira', 'Luis'];
const EMOJI = ['👍', '❤️', '😂', '🎉', '🙏', '👀'];

export interface Generator {
  next(kind: Kind): Record<string, unknown>;
}

export function generator(seed = 42): Generator {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
  const sentence = () => {
    const words = Array.from({ length: 4 + Math.floor(r() * 12) }, () => pick(WORDS));
    const s = words.join(' ');
    return s[0].toUpperCase() + s.slice(1) + pick(['.', '.', '?', '!']);
  };
  const text = (chars: number) => {
    let s = sentence();
    while (s.length < chars) s += ' ' + sentence();
    return s;
  };
  let clock = Date.parse('2026-11-30T09:00:00Z');
  let seq = 1000;
  const users = Array.from({ length: 12 }, () => uuid());
  const conversations = Array.from({ length: 6 }, () => uuid());
  const tenant = uuid();
  const message = (content: string) => {
    clock += Math.floor(r() * 20_000);
    return {
      id: uuid(),
      tenantId: tenant,
      conversationId: pick(conversations),
      seq: ++seq,
      senderId: pick(users),
      clientMessageId: uuid(),
      kind: 'text',
      content,
      createdAt: new Date(clock).toISOString(),
    };
  };

  const small = () => {
    const { tenantId: _t, clientMessageId: _c, ...m } = message(text(20 + Math.floor(r() * 30)));
    return { type: 'message:new', message: m };
  };

  const typical = () => {
    const m = message(text(400 + Math.floor(r() * 200)));
    return {
      type: 'message:new',
      message: {
        ...m,
        senderName: pick(NAMES),
        preview: {
          url: `https://docs.example.com/${hex(10)}/${pick(WORDS)}-${pick(WORDS)}`,
          title: text(50),
          description: text(180),
          image: `https://cdn.example.com/previews/${uuid()}.jpg`,
        },
        reactions: Array.from({ length: 3 }, () => ({ emoji: pick(EMOJI), userIds: [pick(users), pick(users)] })),
        receipts: Array.from({ length: 4 }, () => ({
          userId: pick(users),
          readAt: new Date(clock + Math.floor(r() * 60_000)).toISOString(),
        })),
      },
      meta: { deliveryId: uuid(), channel: `conv:${m.conversationId}` },
    };
  };

  /** One event of a sync page, as the feed stores it (~500 B). */
  const syncEvent = () => {
    const roll = r();
    if (roll < 0.7) {
      const m = message(text(60 + Math.floor(r() * 120)));
      return { seq: m.seq, type: 'message.created', entityId: m.id, at: m.createdAt, data: m };
    }
    if (roll < 0.85) {
      clock += 1000;
      return {
        seq: ++seq,
        type: 'receipt.read',
        entityId: uuid(),
        at: new Date(clock).toISOString(),
        data: { conversationId: pick(conversations), userId: pick(users), upToSeq: seq - Math.floor(r() * 20) },
      };
    }
    const m = message(text(60 + Math.floor(r() * 100)));
    return { seq: m.seq, type: 'message.edited', entityId: m.id, at: m.createdAt, data: { ...m, editedAt: m.createdAt } };
  };

  const large = () => ({
    type: 'sync:page',
    events: Array.from({ length: 60 }, syncEvent),
    cursor: `${hex(16)}.${seq}`,
    hasMore: true,
  });

  return { next: (kind) => (kind === 'small' ? small() : kind === 'typical' ? typical() : large()) };
}
