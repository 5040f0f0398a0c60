import { Logger } from '@nestjs/common';
import { Transport } from 'engine.io';
import type { IncomingMessage } from 'node:http';
import { Decoder, Encoder, Packet, PacketType } from 'socket.io-parser';
import type { WebSocket } from 'ws';

/** engine.io's packet, as its Socket hands it to a transport. */
interface EnginePacket {
  type: string;
  data?: string | Buffer;
}

/** What the handshake request carries for this transport (see plain-websocket.ts). */
export interface JsonFrameRequest extends IncomingMessage {
  websocket: WebSocket;
  /** engine.io's parsed query: EIO=4 plus the client's own parameters. */
  _query: Record<string, string>;
  /** The access token from `?token=` or the Authorization header. */
  tetherToken?: string;
  /** Tether's event name -> the frame `type` this connection's app knows it by (see plain-websocket.ts). */
  tetherEventNames?: Readonly<Record<string, string>>;
}

/** Close codes a plain client can act on: 44xx refuse (fix the token first), others reconnect. */
export const CLOSE_CODES: Record<string, number> = {
  token_missing: 4401,
  token_invalid: 4401,
  token_expired: 4401,
  token_not_yet_valid: 4401,
  rate_limited: 4429,
};

/** The messaging app names its events with dots; Tether's own names use colons. */
const EVENT_ALIASES: Record<string, string> = { 'typing.start': 'typing:start', 'typing.stop': 'typing:stop' };

const encoder = new Encoder();
const MAX_EARLY_FRAMES = 20;
const logger = new Logger('PlainWebSocket');

/**
 * A plain WebSocket speaking JSON frames, presented to engine.io as one more transport, so that
 * the client becomes an ordinary Socket.IO socket of the /realtime namespace: the same handshake
 * auth, channel policies, event log and recovery, presence, rate limits, slow-consumer cap and
 * drain, and cross-pod delivery through the Redis adapter, with no second implementation.
 *
 * Inbound `{type, id?, ...}` frames become Socket.IO events named `type` (with an ack, answered
 * as `{type: 'reply', id, event, data}`); outbound events become `{type: 'event', event, channel,
 * data, offset}` (or `{type: <the app's name>, channel, data, offset}` for the names the
 * connection's path maps); the `session` event becomes `{type: 'connected', ...}`; a refused handshake
 * becomes `{type: 'error', error}` and a close with a 44xx code. engine.io's heartbeat rides on
 * WebSocket ping/pong frames (browsers and React Native answer them by themselves); a
 * `{type: 'ping'}` frame is also answered with `{type: 'pong'}` for clients that want their own.
 *
 * Relies on engine.io 6.6's Transport contract (send/doClose/writable/drain), as the delivery
 * gate relies on socket.io-adapter 2.5: both are pinned with socket.io 4.8.
 */
export class JsonFrameTransport extends Transport {
  /** The ws socket: the gateway's slow-consumer check and drain read `transport.socket`. */
  readonly socket: WebSocket;
  private readonly decoder = new Decoder();
  /** Socket.IO ack id -> what the client asked, to answer it with its own id. */
  private readonly pending = new Map<number, { id?: unknown; event: string }>();
  private nextAckId = 0;
  /** Frames sent before the namespace accepted the handshake (Socket.IO would drop the client). */
  private early: Packet[] | undefined = [];
  private closeCode = 1000;
  private readonly frameTypes: Readonly<Record<string, string>>;
  /** The client asked to acknowledge deliveries (`?ack=1`): its frames carry `deliveryId`; others' stay as they were. */
  private readonly acknowledges: boolean;

  constructor(req: JsonFrameRequest) {
    super(req as never);
    this.socket = req.websocket;
    this.frameTypes = req.tetherEventNames ?? {};
    this.acknowledges = req._query.ack === '1' || req._query.ack === 'true';
    this.decoder.on('decoded', (packet: Packet) => this.toClient(packet));
    this.socket.on('message', (data, isBinary) => {
      try {
        this.fromClient(isBinary ? undefined : data.toString());
      } catch (err) {
        logger.warn(`plain WebSocket: could not handle a frame: ${(err as Error).message}`);
      }
    });
    this.socket.on('pong', () => this.onPacket({ type: 'pong' } as never));
    this.socket.once('close', () => this.onClose());
    this.socket.on('error', (err) => this.onError('websocket error', err.message));
    this.writable = true;
    // After engine.io and Socket.IO have wired this connection (synchronously after the
    // handshake creates us): join the namespace, with the token as handshake auth.
    queueMicrotask(() => this.inject({ type: PacketType.CONNECT, nsp: '/realtime', data: { token: req.tetherToken } }));
  }

  get name(): string {
    return 'websocket';
  }

  get handlesUpgrades(): boolean {
    return false;
  }

  // ---- client -> server -----------------------------------------------------------------------

  private fromClient(text: string | undefined): void {
    let frame: unknown;
    try {
      frame = text === undefined ? undefined : JSON.parse(text);
    } catch {
      frame = undefined;
    }
    const { type, id } = (frame ?? {}) as { type?: unknown; id?: unknown };
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof type !== 'string' || !type) {
      return this.write({ type: 'error', error: { code: 'invalid_frame', message: 'Frames are JSON objects with a string "type"' } });
    }
    if (type === 'ping') return this.write({ type: 'pong', id, time: new Date().toISOString() });
    const event = Object.hasOwn(EVENT_ALIASES, type) ? EVENT_ALIASES[type] : type;
    // `data` if the frame has one, else the frame's other fields: {type: 'subscribe', channels}.
    const { type: _type, id: _id, ...rest } = frame as Record<string, unknown>;
    const data = 'data' in rest ? rest.data : rest;
    if (this.early && this.early.length >= MAX_EARLY_FRAMES)
      return this.write({
        type: 'error',
        id,
        error: { code: 'rate_limited', message: 'Too many frames before the connection was accepted' },
      });
    const ackId = this.nextAckId++;
    this.pending.set(ackId, { id, event });
    const packet = { type: PacketType.EVENT, nsp: '/realtime', id: ackId, data: [event, data] };
    if (this.early) this.early.push(packet);
    else this.inject(packet);
  }

  /** Hands a Socket.IO packet to engine.io as if the client had sent it. */
  private inject(packet: Packet): void {
    for (const data of encoder.encode(packet)) this.onPacket({ type: 'message', data } as never);
  }

  // ---- server -> client -----------------------------------------------------------------------

  send(packets: EnginePacket[]): void {
    this.writable = false;
    for (const packet of packets) {
      if (packet.type === 'ping') this.socket.ping();
      else if (packet.type === 'message' && typeof packet.data === 'string') this.translate(packet.data);
      // open, noop and binary attachments have no JSON form.
    }
    // Writes are queued by ws; engine.io only needs to know it may send again.
    process.nextTick(() => {
      this.writable = true;
      this.emit('drain');
      this.emit('ready');
    });
  }

  /** A packet that cannot be translated is dropped with a warning: it must never take the pod down. */
  private translate(encoded: string): void {
    // Binary events (types 5 and 6) have no JSON form; feeding their header to the decoder would
    // leave it waiting for attachments that never come here.
    if (encoded[0] === '5' || encoded[0] === '6') return;
    try {
      this.decoder.add(encoded);
    } catch (err) {
      logger.warn(`plain WebSocket: could not translate a packet: ${(err as Error).message}`);
    }
  }

  private toClient(packet: Packet): void {
    switch (packet.type) {
      case PacketType.CONNECT: {
        // Socket.IO writes the CONNECT answer just before it registers the socket: hand the early
        // frames over once that is done.
        const early = this.early ?? [];
        return process.nextTick(() => {
          this.early = undefined;
          early.forEach((p) => this.inject(p));
        });
      }
      case PacketType.EVENT: {
        const [event, payload, meta] = packet.data as [
          string,
          unknown,
          { channel?: string; offset?: string; deliveryId?: string } | undefined,
        ];
        if (event === 'session') return this.write({ type: 'connected', ...(payload as object) });
        // Acknowledging clients (`?ack=1`) answer `deliveryId` with {type: 'delivery:ack', ids}.
        const delivery = this.acknowledges && meta?.deliveryId ? { deliveryId: meta.deliveryId } : {};
        if (Object.hasOwn(this.frameTypes, event))
          return this.write({ type: this.frameTypes[event], channel: meta?.channel, data: payload, offset: meta?.offset, ...delivery });
        return this.write({ type: 'event', event, channel: meta?.channel, data: payload, offset: meta?.offset, ...delivery });
      }
      case PacketType.ACK: {
        const asked = this.pending.get(packet.id!);
        this.pending.delete(packet.id!);
        return this.write({ type: 'reply', id: asked?.id, event: asked?.event, data: (packet.data as unknown[])[0] });
      }
      case PacketType.CONNECT_ERROR: {
        const { message, data } = (packet.data ?? {}) as { message?: string; data?: { code?: string } };
        const code = data?.code ?? 'connect_error';
        this.closeCode = CLOSE_CODES[code] ?? 4400;
        this.write({ type: 'error', error: { message, ...data, code } });
        return this.socket.close(this.closeCode, code);
      }
      case PacketType.DISCONNECT:
        this.closeCode = 4000;
        return;
    }
  }

  private write(frame: object): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  doClose(fn?: () => void): void {
    this.socket.close(this.closeCode, this.closeCode === 4000 ? 'server_disconnect' : undefined);
    fn?.();
  }
}
