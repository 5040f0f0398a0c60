import { createHash } from 'node:crypto';
import { DomainError } from '../http/domain-error';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
export const MAX_KEY_LENGTH = 255;
/** Visible ASCII: UUIDs, ULIDs, base64 and Stripe-style keys all fit; spaces and controls do not. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/** The methods whose first response is kept for a key (GET and HEAD are safe to repeat as they are). */
export const IDEMPOTENT_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The key of an `Idempotency-Key` header: Stripe's bare token, or the IETF draft's structured-field
 * string (`"8e03978e-..."`, quotes removed). 1 to 255 visible ASCII characters, else 400.
 */
export function parseIdempotencyKey(header: string | string[]): string {
  const raw = Array.isArray(header) ? header.join(', ') : header;
  const quoted = /^"(.*)"$/.exec(raw);
  const key = quoted ? quoted[1] : raw;
  if (!key || key.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(key) || (quoted && /["\\]/.test(key)))
    throw new DomainError(
      'idempotency_key_invalid',
      `The ${IDEMPOTENCY_HEADER} header must be 1 to ${MAX_KEY_LENGTH} visible ASCII characters (no spaces), e.g. a UUID`,
      400,
    );
  return key;
}

/** JSON with object keys sorted at every level, so the same body written in another key order matches. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** What "the same request" means for a key: method, path with query, and body (sha256, hex). */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}
