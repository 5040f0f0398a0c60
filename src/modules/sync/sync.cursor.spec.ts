import { DomainError } from '../../core/http/domain-error';
import {
  decodeChangesCursor,
  decodeCollectionCursor,
  encodeChangesCursor,
  encodeCollectionCursor,
  initialPosition,
  MAX_ID,
  needsReset,
  nextPosition,
} from './sync.cursor';

const ann = { tenantId: 't1', userId: 'ann' };
const id = '0b4f6c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e';

describe('sync cursors', () => {
  it('round-trip positions with 64-bit transaction ids exactly', () => {
    const p = { x: '18446744073709551615', id, base: '9223372036854775807' };
    expect(decodeCollectionCursor(encodeCollectionCursor('events', p, ann), 'events', ann)).toEqual(p);
    const incremental = { x: '4294967297', id };
    expect(decodeCollectionCursor(encodeCollectionCursor('events', incremental, ann), 'events', ann)).toEqual(incremental);
    const both = { events: p, members: incremental };
    expect(decodeChangesCursor(encodeChangesCursor(both, ann), ann)).toEqual(both);
  });

  it('are opaque url-safe strings bound to one user and one collection', () => {
    const cursor = encodeCollectionCursor('events', { x: '5', id }, ann);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as DomainError).code;
      }
      return 'accepted';
    };
    expect(code(() => decodeCollectionCursor(cursor, 'events', { tenantId: 't1', userId: 'bob' }))).toBe('invalid_cursor');
    expect(code(() => decodeCollectionCursor(cursor, 'events', { tenantId: 't2', userId: 'ann' }))).toBe('invalid_cursor');
    expect(code(() => decodeCollectionCursor(cursor, 'members', ann))).toBe('invalid_cursor');
    expect(code(() => decodeChangesCursor(cursor, ann))).toBe('invalid_cursor');
    expect(code(() => decodeCollectionCursor('%%%', 'events', ann))).toBe('invalid_cursor');
    const forge = (body: object) => Buffer.from(JSON.stringify(body)).toString('base64url');
    const tag = JSON.parse(Buffer.from(cursor, 'base64url').toString()).u;
    expect(code(() => decodeCollectionCursor(forge({ v: 1, c: 'events', x: '1 OR 1=1', i: id, u: tag }), 'events', ann))).toBe(
      'invalid_cursor',
    );
    expect(code(() => decodeCollectionCursor(forge({ v: 1, c: 'events', x: '1', i: 'nope', u: tag }), 'events', ann))).toBe(
      'invalid_cursor',
    );
    expect(code(() => decodeCollectionCursor(forge({ v: 1, c: 'events', x: '1', i: id, b: -1, u: tag }), 'events', ann))).toBe(
      'invalid_cursor',
    );
    expect(code(() => decodeCollectionCursor(forge({ v: 1, c: 'events', x: '1', i: id, u: tag }), 'events', ann))).toBe('accepted');
  });
});

describe('nextPosition', () => {
  it('continues after the last key of a full page', () => {
    expect(nextPosition({ x: '10', id }, { watermark: '50', lastKey: { x: '20', id } })).toEqual({ x: '20', id });
  });

  it('jumps to just below the watermark once everything below it was served', () => {
    expect(nextPosition({ x: '10', id }, { watermark: '50' })).toEqual({ x: '49', id: MAX_ID });
    // Never backwards.
    expect(nextPosition({ x: '60', id }, { watermark: '50' })).toEqual({ x: '60', id });
  });

  it('starts an initial sync at the first watermark and ends it once past that base', () => {
    const first = nextPosition(initialPosition(), { watermark: '100', lastKey: { x: '40', id } });
    expect(first).toEqual({ x: '40', id, base: '100' });
    const middle = nextPosition(first, { watermark: '120', lastKey: { x: '90', id } });
    expect(middle.base).toBe('100');
    const done = nextPosition(middle, { watermark: '130', lastKey: { x: '105', id } });
    expect(done).toEqual({ x: '105', id });
  });
});

describe('needsReset', () => {
  it('is never needed before anything was purged, or on the first page of an initial sync', () => {
    expect(needsReset({ x: '5', id }, null)).toBe(false);
    expect(needsReset(initialPosition(), '1000')).toBe(false);
  });

  it('is needed when the cursor is at or below the purge mark', () => {
    expect(needsReset({ x: '99', id }, '100')).toBe(true);
    expect(needsReset({ x: '100', id }, '100')).toBe(true);
    expect(needsReset({ x: '101', id }, '100')).toBe(false);
    expect(needsReset({ x: '0', id }, '100')).toBe(true); // updatedAfter older than anything remembered
  });

  it('spares an initial sync whose base is above everything purged (it never had those rows)', () => {
    expect(needsReset({ x: '50', id, base: '200' }, '100')).toBe(false);
    expect(needsReset({ x: '50', id, base: '90' }, '100')).toBe(true);
  });
});
