import WebSocket from 'ws';

/** A plain WebSocket client speaking Tether's JSON frames, as seeds 002 and 004 connect. */
export interface PlainClient {
  ws: WebSocket;
  /** Every frame received so far, parsed. */
  frames: any[];
  /** The first frame (already received or coming) that matches. */
  next(match: (frame: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Sends a frame with an id and resolves with its `reply` frame. */
  request(frame: object, timeoutMs?: number): Promise<any>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
}

let ids = 0;

/** Opens `ws://host/<path>?token=` (or with an Authorization header); resolves once open. */
export async function openPlain(
  httpUrl: string,
  opts: { token?: string; path?: string; header?: boolean; query?: string } = {},
): Promise<PlainClient> {
  const base = httpUrl.replace(/^http/, 'ws') + (opts.path ?? '/ws');
  const params = new URLSearchParams(opts.query ?? '');
  if (opts.token && !opts.header) params.set('token', opts.token);
  const url = params.size ? `${base}?${params}` : base;
  const ws = new WebSocket(url, opts.header && opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : {});
  const frames: any[] = [];
  const waiters: { match: (f: any) => boolean; resolve: (f: any) => void }[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    frames.push(frame);
    for (const w of [...waiters]) {
      if (!w.match(frame)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(frame);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = (match: (frame: any) => boolean, timeoutMs = 5000) => {
    const seen = frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<any>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)),
        timeoutMs,
      );
      waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  };
  const request = (frame: object, timeoutMs = 5000) => {
    const id = `r${++ids}`;
    const reply = next((f) => f.type === 'reply' && f.id === id, timeoutMs);
    ws.send(JSON.stringify({ ...frame, id }));
    return reply;
  };
  return { ws, frames, next, request, closed };
}
