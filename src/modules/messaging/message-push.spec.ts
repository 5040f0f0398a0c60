import type { MessageView } from './dto/messaging.dto';
import { HIDDEN_PREVIEW, messagePush } from './message-push';

const message: MessageView = {
  id: 'm-1',
  conversationId: 'c-1',
  seq: 4,
  senderId: 'u-1',
  clientMessageId: 'cm-1',
  kind: 'text',
  content: 'x'.repeat(130),
  createdAt: '2026-11-30T10:00:00.000Z',
  editedAt: null,
  deletedAt: null,
};

describe('messagePush', () => {
  it('titles the push with the sender’s name and previews the text in at most 120 characters', () => {
    const push = messagePush(message, 'Ada', 'text');
    expect(push.title).toBe('Ada');
    expect(push.body).toHaveLength(120);
    expect(push.body!.endsWith('…')).toBe(true);
    expect(push.data).toEqual({ type: 'message', conversationId: 'c-1', messageId: 'm-1', seq: '4', senderId: 'u-1' });
  });

  it('hides the text entirely when previews are hidden', () => {
    const push = messagePush({ ...message, content: 'secret' }, 'Ada', 'hidden');
    expect(push.body).toBe(HIDDEN_PREVIEW);
    expect(JSON.stringify(push)).not.toContain('secret');
    expect(push).toMatchObject({ title: 'Ada', data: { senderId: 'u-1' } });
  });

  it('says "New message" alone with `none`: no name, no text, no sender id', () => {
    const push = messagePush({ ...message, content: 'secret' }, 'Ada', 'none');
    expect(push).toEqual({ title: HIDDEN_PREVIEW, data: { type: 'message', conversationId: 'c-1', messageId: 'm-1', seq: '4' } });
  });
});
