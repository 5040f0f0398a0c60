import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export const SEND_PATH = '/--/api/v2/push/send';
export const RECEIPTS_PATH = '/--/api/v2/push/getReceipts';

type Json = Record<string, unknown> | unknown[];
export interface ExpoMessage {
  to: string;
  title?: string;
  body?: string;
  data?: Record<string, string>;
  [key: string]: unknown;
}
type Ticket = { status: 'ok'; id: string } | { status: 'error'; message: string; details?: { error?: string } };
type Receipt = { status: 'ok' } | { status: 'error'; message: string; details?: { error?: string } };

/**
 * Expo's push API on 127.0.0.1, which the app reaches through EXPO_PUSH_URL (expo-server-sdk uses
 * undici's own fetch, which nock cannot intercept). Records every request; answers with ok tickets
 * and ok receipts unless a test scripts something else.
 */
export class FakeExpo {
  /** Every send request, in order: the messages it carried and its headers. */
  readonly sendRequests: { messages: ExpoMessage[]; headers: IncomingMessage['headers'] }[] = [];
  readonly receiptRequests: { ids: string[] }[] = [];
  /** Receipt id handed out per token, in order. */
  readonly ticketsFor = new Map<string, string[]>();
  private readonly server: Server;
  private readonly httpErrors = new Map<string, number[]>();
  private readonly ticketScripts = new Map<string, Ticket>();
  private readonly receiptScripts = new Map<string, Receipt>();
  private next = 0;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        let raw = Buffer.concat(parts);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        const [status, body] = this.answer(req, JSON.parse(raw.toString('utf8') || 'null'));
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The next send requests carrying this token fail as a whole with these HTTP statuses, in order. */
  failRequests(token: string, ...statuses: number[]): void {
    this.httpErrors.set(token, [...(this.httpErrors.get(token) ?? []), ...statuses]);
  }

  /** Every message to this token gets an error ticket. */
  errorTicket(token: string, error: string): void {
    this.ticketScripts.set(token, { status: 'error', message: `"${token}" failed: ${error}`, details: { error } });
  }

  /** The receipts of this token's tickets report an error. */
  errorReceipt(token: string, error: string): void {
    this.receiptScripts.set(token, { status: 'error', message: `"${token}" failed: ${error}`, details: { error } });
  }

  messagesTo(token: string): ExpoMessage[] {
    return this.sendRequests.flatMap((r) => r.messages).filter((m) => m.to === token);
  }

  /** Send requests that carried this token (including the failed ones). */
  requestsWith(token: string): number {
    return this.sendRequests.filter((r) => r.messages.some((m) => m.to === token)).length;
  }

  private answer(req: IncomingMessage, body: unknown): [number, Json] {
    if (req.method === 'POST' && req.url === SEND_PATH) {
      const messages = body as ExpoMessage[];
      this.sendRequests.push({ messages, headers: req.headers });
      for (const m of messages) {
        const status = this.httpErrors.get(m.to)?.shift();
        if (status)
          return [
            status,
            { errors: [{ code: status === 429 ? 'TOO_MANY_REQUESTS' : 'INTERNAL_SERVER_ERROR', message: `status ${status}` }] },
          ];
      }
      return [200, { data: messages.map((m) => this.ticket(m.to)) }];
    }
    if (req.method === 'POST' && req.url === RECEIPTS_PATH) {
      const { ids } = body as { ids: string[] };
      this.receiptRequests.push({ ids });
      const data: Record<string, Receipt> = {};
      for (const id of ids) {
        const token = [...this.ticketsFor].find(([, given]) => given.includes(id))?.[0];
        if (token !== undefined) data[id] = this.receiptScripts.get(token) ?? { status: 'ok' };
      }
      return [200, { data }];
    }
    return [404, { errors: [{ code: 'NOT_FOUND', message: `${req.method} ${req.url}` }] }];
  }

  private ticket(token: string): Ticket {
    const scripted = this.ticketScripts.get(token);
    if (scripted) return scripted;
    const id = `receipt-${++this.next}-${Math.random().toString(36).slice(2, 10)}`;
    this.ticketsFor.set(token, [...(this.ticketsFor.get(token) ?? []), id]);
    return { status: 'ok', id };
  }
}
