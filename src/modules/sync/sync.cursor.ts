import { createHash } from 'node:crypto';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError } from '../../core/http/domain-error';
import { isUuid } from '../../core/http/validators';

export const NIL_ID = '00000000-0000-0000-0000-000000000000';
export const MAX_ID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/**
 * A place in one collection's change feed: every change keyed at or before `(x, id)` has been
 * delivered. `x` is a transaction id (bigint, kept as a string), `id` a row id.
 *
 * `base` marks an initial sync (the client started with nothing): tombstones and access changes
 * older than `base` (the watermark when that sync began) concern rows the client never had and
 * are left out. `null` = the first page of an initial sync (its watermark becomes the base);
 * absent = an incremental sync.
 */
export interface Position {
  x: string;
  id: string;
  base?: string | null;
}

export const initialPosition = (): Position => ({ x: '0', id: NIL_ID, base: null });

const XID = /^\d{1,20}$/;

interface EncodedPosition {
  x: string;
  i: string;
  b?: string;
}
interface CollectionCursor extends EncodedPosition {
  v: 1;
  c: string;
  u: string;
}
interface ChangesCursor {
  v: 1;
  m: Record<string, EncodedPosition>;
  u: string;
}

/** Cursors belong to one caller: the grant streams in a position are that caller's. */
function callerTag(user: Pick<AuthUser, 'tenantId' | 'userId'>): string {
  return createHash('sha256').update(`${user.tenantId}\n${user.userId}`).digest('base64url').slice(0, 16);
}

function invalidCursor(reason: string): DomainError {
  return new DomainError('invalid_cursor', `The cursor is not valid here: ${reason}`, 400);
}

function encodePosition(p: Position): EncodedPosition {
  if (p.base === null) throw new Error('a first-page position has no encoding');
  return p.base === undefined ? { x: p.x, i: p.id } : { x: p.x, i: p.id, b: p.base };
}

function decodePosition(e: unknown): Position {
  const p = e as Partial<EncodedPosition> | null;
  if (!p || typeof p.x !== 'string' || !XID.test(p.x) || typeof p.i !== 'string' || !isUuid(p.i)) throw invalidCursor('malformed position');
  if (p.b !== undefined && (typeof p.b !== 'string' || !XID.test(p.b))) throw invalidCursor('malformed position');
  return p.b === undefined ? { x: p.x, id: p.i } : { x: p.x, id: p.i, base: p.b };
}

function parse(cursor: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalidCursor('not a cursor this server issued');
}

const pack = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function encodeCollectionCursor(collection: string, p: Position, user: Pick<AuthUser, 'tenantId' | 'userId'>): string {
  const body: CollectionCursor = { v: 1, c: collection, ...encodePosition(p), u: callerTag(user) };
  return pack(body);
}

export function decodeCollectionCursor(cursor: string, collection: string, user: Pick<AuthUser, 'tenantId' | 'userId'>): Position {
  const body = parse(cursor);
  if (body.v !== 1 || typeof body.c !== 'string') throw invalidCursor('not a collection cursor');
  if (body.c !== collection) throw invalidCursor(`it belongs to "${body.c}", not "${collection}"`);
  if (body.u !== callerTag(user)) throw invalidCursor('it was issued to another user');
  return decodePosition(body);
}

export function encodeChangesCursor(positions: Record<string, Position>, user: Pick<AuthUser, 'tenantId' | 'userId'>): string {
  const m: Record<string, EncodedPosition> = {};
  for (const [name, p] of Object.entries(positions)) m[name] = encodePosition(p);
  const body: ChangesCursor = { v: 1, m, u: callerTag(user) };
  return pack(body);
}

export function decodeChangesCursor(cursor: string, user: Pick<AuthUser, 'tenantId' | 'userId'>): Record<string, Position> {
  const body = parse(cursor);
  if (body.v !== 1 || !body.m || typeof body.m !== 'object' || Array.isArray(body.m)) throw invalidCursor('not a /sync/changes cursor');
  if (body.u !== callerTag(user)) throw invalidCursor('it was issued to another user');
  const positions: Record<string, Position> = {};
  for (const [name, p] of Object.entries(body.m as Record<string, unknown>)) positions[name] = decodePosition(p);
  return positions;
}

/** What a page query saw, enough to place the next cursor. */
export interface PageBounds {
  /** The watermark: every transaction below it had finished when the page was read. */
  watermark: string;
  /** Key of the last change delivered, when the page was full and more follow. */
  lastKey?: { x: string; id: string };
}

/**
 * The position after a page. A full page continues after its last key; otherwise everything below
 * the watermark has been delivered, so the next page starts there (nothing can later commit below
 * it: transaction ids below the watermark are all finished).
 */
export function nextPosition(from: Position, page: PageBounds): Position {
  const base = from.base === null ? page.watermark : from.base;
  let next: Position;
  if (page.lastKey) next = { x: page.lastKey.x, id: page.lastKey.id };
  else {
    const below = BigInt(page.watermark) - 1n;
    next = below > BigInt(from.x) ? { x: below.toString(), id: MAX_ID } : { x: from.x, id: from.id };
  }
  // Past the base, an initial sync is an ordinary incremental one.
  if (base !== undefined && BigInt(next.x) < BigInt(base)) next.base = base;
  return next;
}

/**
 * Whether tombstones this position may still need were purged. `purgedThrough` is the highest
 * transaction id among purged tombstones of the collection.
 */
export function needsReset(p: Position, purgedThrough: string | null): boolean {
  if (purgedThrough === null || p.base === null) return false;
  const purged = BigInt(purgedThrough);
  // An initial sync never had rows whose tombstones predate its base.
  if (p.base !== undefined && purged < BigInt(p.base)) return false;
  return BigInt(p.x) <= purged;
}
