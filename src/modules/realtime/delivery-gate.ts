import type { Socket } from 'socket.io';
import { compareOffsets } from './offsets';

/**
 * Per socket: rooms being recovered -> live deliveries held until the replay is done, each with
 * its offset for de-duplication (see ChannelSubscriptions.recover).
 */
export type Gates = Map<string, { offset: string | undefined; deliver: () => void }[]>;

/**
 * Per socket: rooms just recovered -> the last replayed offset. A live broadcast of an event the
 * replay already sent can still be in flight through Redis after the gate is gone (it was
 * appended to the log before the replay read it, but its emit arrives later); those are dropped.
 */
export type Floors = Map<string, string>;

export interface GatedSocketData {
  gates?: Gates;
  floors?: Floors;
}

interface Packet {
  type: number;
  data?: unknown[];
}

interface BroadcastOptions {
  rooms: Set<string>;
}

interface AdapterInternals {
  _encode(packet: Packet, opts: unknown): unknown;
  apply(opts: BroadcastOptions, callback: (socket: Socket) => void): void;
}

/**
 * Wraps a Socket.IO adapter factory so that, while a socket replays missed events for a room,
 * live broadcasts to that room are held for it (other sockets get them at once) and handed over
 * after the replay, skipping those the replay already sent. Socket.IO has no per-socket hook
 * on broadcasts, so this intercepts the in-memory adapter's `_encode` (which sees the packet)
 * and `apply` (which visits each socket); both run back to back, synchronously, for every
 * broadcast, local or from another pod (socket.io-adapter 2.5, pinned with socket.io 4.8.3).
 */
export function deliveryGate<T extends object>(
  factory: (nsp: unknown) => T,
  onDelivered: (sockets: number) => void = () => undefined,
): (nsp: unknown) => T {
  return (nsp) => {
    const adapter = factory(nsp) as T & AdapterInternals;
    const encode = adapter._encode.bind(adapter);
    const apply = adapter.apply.bind(adapter);
    let current: Packet | undefined;
    adapter._encode = (packet, opts) => {
      current = packet;
      return encode(packet, opts);
    };
    adapter.apply = (opts, callback) => {
      const packet = current;
      current = undefined;
      if (!packet) return apply(opts, callback);
      let sockets = 0;
      const offset = (packet.data?.[2] as { offset?: string } | undefined)?.offset;
      apply(opts, (socket) => {
        sockets++;
        const { gates, floors } = socket.data as GatedSocketData;
        if (gates?.size || floors?.size) {
          for (const room of opts.rooms) {
            const held = gates?.get(room);
            if (held) {
              held.push({ offset, deliver: () => callback(socket) });
              return;
            }
            const floor = floors?.get(room);
            if (floor && offset && compareOffsets(offset, floor) <= 0) return;
          }
        }
        callback(socket);
      });
      onDelivered(sockets);
    };
    return adapter;
  };
}
