// @tether/client/react: the client in React and React Native components (react is an optional peer dependency).
import { createContext, createElement, ReactNode, useContext, useEffect, useRef, useState } from 'react';
import type { ConnectionState, TetherClient } from './client';
import type { EventHandler, SubscribeOptions } from './subscriptions';

const TetherContext = createContext<TetherClient | null>(null);

/** Makes one TetherClient available to the hooks below (create it once, outside render). */
export function TetherProvider({ client, children }: { client: TetherClient; children?: ReactNode }) {
  return createElement(TetherContext.Provider, { value: client }, children);
}

/** The client of the nearest TetherProvider. */
export function useTether(): TetherClient {
  const client = useContext(TetherContext);
  if (!client) throw new Error('useTether: no <TetherProvider client={...}> above this component');
  return client;
}

/** 'connecting' | 'connected' | 'polling' | 'offline' | 'closed', re-rendering on every change. */
export function useConnectionState(): ConnectionState {
  const tether = useTether();
  const [state, setState] = useState(tether.state);
  useEffect(() => {
    setState(tether.state);
    return tether.on('state', setState);
  }, [tether]);
  return state;
}

/**
 * Calls `handler` for every `event` on `channel` while the component is mounted. The channel is
 * subscribed on mount and left on unmount (components sharing a channel share one subscription);
 * the latest `handler` is called, so it need not be memoised.
 */
export function useChannelEvent(channel: string, event: string, handler: EventHandler, options?: SubscribeOptions): void {
  const tether = useTether();
  const latest = useRef(handler);
  const opts = useRef(options);
  useEffect(() => {
    latest.current = handler;
    opts.current = options;
  });
  useEffect(() => {
    const sub = tether.subscribe(channel, opts.current);
    const off = sub.on(event, (payload, meta) => latest.current(payload, meta));
    return () => {
      off();
      sub.unsubscribe();
    };
  }, [tether, channel, event]);
}

export interface QueueStatus {
  count: number;
  processing: boolean;
}

/** What useQueueStatus reads of `tether.mutations` (the offline mutation queue). */
interface StatusSource {
  status: QueueStatus;
  on(event: 'status', listener: (status: QueueStatus) => void): () => void;
}

const IDLE: QueueStatus = { count: 0, processing: false };

/** The offline mutation queue's `{count, processing}`, re-rendering on every change. */
export function useQueueStatus(): QueueStatus {
  const queue: StatusSource | undefined = useTether().mutations;
  const [status, setStatus] = useState<QueueStatus>(() => queue?.status ?? IDLE);
  useEffect(() => {
    if (!queue) return;
    setStatus(queue.status);
    return queue.on('status', setStatus);
  }, [queue]);
  return status;
}
