/** A Redis Stream id, `<ms>-<seq>`, as numbers. */
export type StreamId = [number, number];

export function parseId(id: string): StreamId | undefined {
  const m = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function compareIds(a: StreamId, b: StreamId): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** Offsets (`<epoch>.<stream id>`) compare in publish order; meaningful within one epoch. */
export function compareOffsets(a: string, b: string): number {
  const ia = parseId(a.slice(a.indexOf('.') + 1));
  const ib = parseId(b.slice(b.indexOf('.') + 1));
  return ia && ib ? compareIds(ia, ib) : 0;
}
