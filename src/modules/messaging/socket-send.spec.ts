import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { SocketSendDto } from './dto/messaging.dto';
import { wellFormedSend } from './socket-send';

/** What MessagingService.sendFromSocket's full validation makes of a payload: the DTO's fields, or undefined. */
async function viaDto(data: object): Promise<Record<string, unknown> | undefined> {
  const dto = plainToInstance(SocketSendDto, data);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
  return errors.length ? undefined : { ...dto };
}

const id = '6f1c1f2e-8a4b-4c43-9d7e-0f3c8b2a1d55';
const payloads: object[] = [
  { conversationId: id, content: 'hi' },
  { conversationId: id, content: 'hi', clientMessageId: 'c-1', kind: 'text' },
  { conversationId: id, content: 'x'.repeat(4000), clientMessageId: 'a'.repeat(64) },
  { conversationId: id, content: '😀'.repeat(2000) },
  { conversationId: id, content: '😀'.repeat(2001) }, // 4,002 code units: the DTO counts 2,001
  { conversationId: id, content: 'x'.repeat(4001) },
  { conversationId: id, content: '' },
  { conversationId: id, content: 'hi', clientMessageId: 'a'.repeat(65) },
  { conversationId: id, content: 'hi', clientMessageId: 'has space' },
  { conversationId: id, content: 'hi', clientMessageId: null },
  { conversationId: id, content: 'hi', kind: 'image' },
  { conversationId: id, content: 'hi', extra: 1 },
  { conversationId: '', content: 'hi' },
  { conversationId: 5, content: 'hi' },
  { content: 'hi' },
  { conversationId: id, content: 7 },
];

describe('wellFormedSend (message:send without class-validator)', () => {
  it.each(payloads.map((p) => [JSON.stringify(p).slice(0, 80), p]))('%s: accepted only as the DTO accepts it', async (_, payload) => {
    const fast = wellFormedSend(payload as object);
    if (fast) expect({ ...fast }).toEqual(await viaDto(payload as object));
  });

  it('takes the common payloads itself, and leaves the rest to the DTO', () => {
    expect(wellFormedSend({ conversationId: id, content: 'hi', clientMessageId: 'c-1' })).toEqual({
      conversationId: id,
      content: 'hi',
      clientMessageId: 'c-1',
    });
    expect(wellFormedSend({ conversationId: id, content: 'hi', kind: 'text' })).toEqual({
      conversationId: id,
      content: 'hi',
      kind: 'text',
    });
    for (const payload of [
      { conversationId: id, content: '' },
      { conversationId: id, content: 'hi', extra: 1 },
      { conversationId: id, content: 'hi', clientMessageId: null },
    ])
      expect(wellFormedSend(payload)).toBeUndefined();
  });
});
