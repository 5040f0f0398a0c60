import { SignJWT } from 'jose';
import { signDevToken } from '../../src/core/auth/dev-token';
import { freePort, NodeProcess, spawnApp, stopChild, waitReady } from '../../tools/scratch';

/** One app process (the built app, `npm run build`) on its own port, as a pod behind a load balancer. */
export interface Pod {
  url: string;
  port: number;
  proc: NodeProcess;
}

export async function startPod(env: Record<string, string>): Promise<Pod> {
  const port = await freePort();
  const proc = spawnApp({ LOG_LEVEL: 'silent', ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, proc);
  return { url, port, proc };
}

/** SIGTERM (SIGKILL after a while) every pod still running. */
export async function stopPods(pods: (Pod | undefined)[]): Promise<void> {
  await Promise.all(pods.map((p) => (p ? stopChild(p.proc.child) : undefined)));
}

/** SIGKILL: no drain, no goodbye; resolves once it is gone. */
export async function killPod(pod: Pod): Promise<void> {
  pod.proc.child.kill('SIGKILL');
  await pod.proc.exited;
}

/** An access token of this run's secret; `ttlSeconds` may be negative (already expired). */
export const accessToken = (tid: string, sub: string, roles = ['MEMBER'], ttlSeconds = 3600) =>
  signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles }, ttlSeconds);

/** A host backend's subscription token for one channel (signed like access tokens: no CHANNEL_TOKEN_SECRET in tests). */
export const channelToken = (tid: string, sub: string, channel: string, ttlSeconds = 300) =>
  new SignJWT({ channel, tid })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(process.env.MOBILE_JWT_SECRET!));

/** POST /admin/broadcast as the tenant's backend (a SERVICE token); returns the event's offset. */
export async function broadcast(url: string, tid: string, channel: string, event: string, data: object): Promise<string> {
  const res = await fetch(`${url}/api/mobile/v1/admin/broadcast`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await accessToken(tid, 'backend', ['SERVICE'])}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, event, data }),
  });
  if (res.status !== 202) throw new Error(`broadcast answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { offset: string }).offset;
}

/** A JSON call to the API as someone (a plain fetch, beside the SDK under test). */
export async function api<T = any>(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}/api/mobile/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** `api` for a call that must succeed (2xx): its body, or an error naming the status and answer. */
export async function apiOk<T = any>(url: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await api<T>(url, token, method, path, body);
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}
