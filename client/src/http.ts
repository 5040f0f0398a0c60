import { TetherHttpError, TetherNetworkError } from './errors';
import { TokenSource } from './tokens';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as `Idempotency-Key`: the same key on every resend of one logical write. */
  idempotencyKey?: string;
  /** Abort after this long (default: the client's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** Do not send the access token (public routes). */
  anonymous?: boolean;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** JSON over HTTP to `<url>/api/mobile/v1`, with the access token, one error shape and one token retry on 401. */
export class HttpClient {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly fetchImpl: FetchLike,
    private readonly defaultTimeoutMs = 15_000,
    private readonly apiPrefix = '/api/mobile/v1',
  ) {}

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  /** A 401 with `token_expired` or `token_invalid` asks `token()` for a new token once and retries. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    try {
      return await this.send<T>(method, path, options, false);
    } catch (err) {
      if (err instanceof TetherHttpError && err.status === 401 && !options.anonymous) {
        return this.send<T>(method, path, options, true);
      }
      throw err;
    }
  }

  url(path: string, query?: RequestOptions['query']): string {
    const q = Object.entries(query ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return `${this.baseUrl.replace(/\/+$/, '')}${this.apiPrefix}${path}${q ? `?${q}` : ''}`;
  }

  private async send<T>(method: string, path: string, options: RequestOptions, freshToken: boolean): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    if (!options.anonymous) {
      const token = freshToken ? await this.tokens.fresh() : await this.tokens.get();
      headers.Authorization = `Bearer ${token}`;
    }
    const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
    const timer = setTimeout(() => controller?.abort(), options.timeoutMs ?? this.defaultTimeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller?.signal,
      });
      text = await response.text();
    } catch (err) {
      throw new TetherNetworkError(`${method} ${path} failed: ${(err as Error)?.message ?? String(err)}`, err);
    } finally {
      clearTimeout(timer);
    }
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (response.ok) return body as T;
    const e = (body && typeof body === 'object' ? body : {}) as { code?: string; message?: string; details?: unknown };
    throw new TetherHttpError(
      response.status,
      e.code ?? `http_${response.status}`,
      e.message ?? `${method} ${path} answered ${response.status}`,
      retryAfterMs(response.headers.get('Retry-After')),
      e.details,
      body,
    );
  }
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
