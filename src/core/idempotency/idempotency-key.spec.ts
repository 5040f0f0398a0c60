import { DomainError } from '../http/domain-error';
import { parseIdempotencyKey, requestFingerprint } from './idempotency-key';

describe('parseIdempotencyKey', () => {
  it("accepts Stripe's bare keys and the draft's quoted strings", () => {
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('k'.repeat(255))).toHaveLength(255);
  });

  it('refuses empty, too long, spaces, controls, non-ASCII, repeated headers and bad quoting with idempotency_key_invalid', () => {
    for (const bad of ['', '""', 'k'.repeat(256), 'two words', 'tab\there', 'clé', 'a\nb', '"a"b"', ['a', 'b']]) {
      let thrown: unknown;
      try {
        parseIdempotencyKey(bad);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DomainError);
      expect(thrown).toMatchObject({ code: 'idempotency_key_invalid', status: 400 });
    }
  });
});

describe('requestFingerprint', () => {
  it('is the same for the same method, path and body in any key order', () => {
    const a = requestFingerprint('POST', '/x?a=1', { b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } });
    const b = requestFingerprint('post', '/x?a=1', { a: { c: null, d: [1, { e: 3, f: 2 }] }, b: 1 });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs with the method, the path, the query or the body', () => {
    const base = requestFingerprint('POST', '/x', { a: 1 });
    expect(requestFingerprint('PUT', '/x', { a: 1 })).not.toBe(base);
    expect(requestFingerprint('POST', '/y', { a: 1 })).not.toBe(base);
    expect(requestFingerprint('POST', '/x?q=1', { a: 1 })).not.toBe(base);
    expect(requestFingerprint('POST', '/x', { a: 2 })).not.toBe(base);
    expect(requestFingerprint('POST', '/x', [{ a: 1 }])).not.toBe(base);
    expect(requestFingerprint('DELETE', '/x', undefined)).toBe(requestFingerprint('DELETE', '/x', null));
  });
});
