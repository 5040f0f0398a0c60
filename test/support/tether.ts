import { TetherClient } from '../../client/src';
import { eventually } from '../../tools/scratch';

type Options = ConstructorParameters<typeof TetherClient>[0];
type State = TetherClient['state'];

/** Short timings for tests: reconnects within a few hundred ms, polling after two failures. */
export const FAST: Partial<Options> = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 400, factor: 2 },
  polling: false,
  requestTimeoutMs: 5000,
  ackTimeoutMs: 5000,
  mutations: { initialDelayMs: 200, maxDelayMs: 1000 },
};

/** TetherClients made by a spec file, closed in its afterAll. */
export class Clients {
  private readonly made: TetherClient[] = [];

  /** A client with FAST timings (overridden by `options`), connected unless `connect: false`. */
  make(options: Options, { connect = true }: { connect?: boolean } = {}): TetherClient {
    const tether = new TetherClient({ ...FAST, ...options });
    this.made.push(tether);
    if (connect) tether.connect();
    return tether;
  }

  closeAll(): void {
    for (const tether of this.made.splice(0)) tether.close();
  }
}

/** Every state the client went through, from now on. */
export function states(tether: TetherClient): State[] {
  const seen: State[] = [];
  tether.on('state', (state: State) => seen.push(state));
  return seen;
}

export function waitForState(tether: TetherClient, state: State, timeoutMs = 10_000): Promise<State> {
  return eventually(() => tether.state, { until: (s) => s === state, timeoutMs, what: `state ${state}`, everyMs: 20 });
}

/** The Socket.IO id of the client's current connection (private to the SDK: a test looks inside to prove "the same connection"). */
export function socketId(tether: TetherClient): string | undefined {
  return (tether as unknown as { socket?: { id?: string } }).socket?.id;
}

/** A token() that counts its calls and answers what `next` makes of the call number (1, 2, ...). */
export function countingToken(next: (call: number) => Promise<string>): { token: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return { token: () => next(++calls), calls: () => calls };
}
