import { Injectable, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';
import { compareIds, parseId, StreamId } from './offsets';

/** One stored event, as replayed to sockets and served by GET /realtime/events. */
export interface LoggedEvent {
  event: string;
  data: unknown;
  offset: string;
  /** When it was published (ISO), from the stream id. */
  timestamp: string;
}

export interface ReadResult {
  /** True when the log reaches back to `since`: `events` continue it with no gap. */
  recovered: boolean;
  events: LoggedEvent[];
  /** Where the reader now stands: the last returned event, or the channel's latest offset. */
  offset: string;
  /** More events follow `offset` than `limit` allowed: read again from `offset`. */
  hasMore: boolean;
}

// XADD and the epoch in one step, so no event is ever stamped with a stale epoch.
// KEYS: stream, epoch. ARGV: candidate epoch, max length, ttl ms, '1' to append only to a stream
// that exists (a watched log, see KEEP), then event, payload per event.
// Returns {epoch, id, ...}: one id per event, in order; {epoch} alone when nothing was appended.
const APPEND = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local out = {redis.call('GET', KEYS[2])}
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return out end
for i = 5, #ARGV, 2 do
  out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i], 'd', ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return out`;

// Presence logs exist only while watched: a reader (a subscribe, a recovery, a poll) keeps the
// stream for the log's max age, created empty if missing, and presence changes are appended only
// to a stream that exists. A Redis stream costs about 4.7 KB even with two entries (its first node
// is allocated at stream-node-max-bytes), and most users' presence is never subscribed to.
// Appended at the end of READ and CURRENT (after their answer is computed), with ARGV 'keep ms'.
// Recovery stays exact: a stream lives max age after its last append or keep, so when it is
// missing every offset handed out from it is older than max age (refused as too old).
const KEEP = `
if tonumber(KEEP_MS) > 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('XGROUP', 'CREATE', KEYS[1], 'tether-keep', '$', 'MKSTREAM')
    redis.call('XGROUP', 'DESTROY', KEYS[1], 'tether-keep')
  end
  redis.call('PEXPIRE', KEYS[1], KEEP_MS)
end`;

// The same for an event from the outbox, which carries its channel sequence number: appended only if
// it is the next one after the last appended (kept in a companion key with the stream's TTL), so the
// log holds each outbox event once and in commit order. No companion key (a new or expired log, or
// Redis lost its data): the first of a channel is appended; a later one only with `force` (the caller
// made sure no earlier one is still waiting), else 'unknown'.
// Returns {epoch, id}, {epoch, 'duplicate'}, {epoch, 'gap'} or {epoch, 'unknown'}.
// A `gap` whose earlier events were published already (none waits in the outbox) means the log
// lost them: Redis failed over to a replica that had not received them. With force 2 the event is
// appended past the gap under a new epoch, so no offset from before "recovers" across the hole.
// KEYS: stream, epoch, last sequence. ARGV: candidate epoch, max length, ttl ms, event, payload,
// sequence, force (0; 1: no last sequence known; 2: past a gap, new epoch).
const APPEND_SEQUENCED = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
local seq = tonumber(ARGV[6])
local last = redis.call('GET', KEYS[3])
if last then
  last = tonumber(last)
  if seq <= last then return {epoch, 'duplicate'} end
  if seq > last + 1 then
    if ARGV[7] ~= '2' then return {epoch, 'gap'} end
    redis.call('SET', KEYS[2], ARGV[1])
    epoch = ARGV[1]
  end
elseif seq ~= 1 and ARGV[7] == '0' then
  return {epoch, 'unknown'}
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[4], 'd', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[3])
return {epoch, id}`;

// Everything after an id, plus what is needed to prove nothing between was trimmed.
// KEYS: stream, epoch. ARGV: candidate epoch, after-id (or 'latest': the newest, newest first), count,
// the largest sequence number (for the position of a channel with no stream), keep ms (see KEEP; 0: no).
// Returns {epoch, exists, lastGeneratedId, firstEntryId, entries, trimmed}: `trimmed` is 1 when the
// stream ever lost an entry (entries-added > length; Redis 7.0 keeps no max-deleted-entry-id).
// A channel with no stream, or an empty one (a kept presence log), stands at "now" in Redis's clock, as in currentOffsets.
const READ = `
local function keep()
${KEEP.replaceAll('KEEP_MS', 'ARGV[5]')}
end
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('XLEN', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  keep()
  return {epoch, 0, string.format('%.0f', now - 1) .. '-' .. ARGV[4], '0-0', {}, 0}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, first, added, length = '0-0', '0-0', 0, 0
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'first-entry' and info[i + 1] then first = info[i + 1][1] end
  if info[i] == 'entries-added' then added = info[i + 1] end
  if info[i] == 'length' then length = info[i + 1] end
end
local trimmed = 0
if added > length then trimmed = 1 end
local entries
if ARGV[2] == 'latest' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[3])
end
keep()
return {epoch, 1, last, first, entries, trimmed}`;

// A channel's current position without reading its events. KEYS: stream, epoch. ARGV: candidate
// epoch, keep ms (see KEEP; 0: no). SET NX first: an offset handed out must carry the epoch later appends are stamped with;
// the time is this node's (the one that stamps the channel's ids). Returns {epoch, now ms, newest id or ''}.
const CURRENT = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = ''
if newest[1] then id = newest[1][1] end
${KEEP.replaceAll('KEEP_MS', 'ARGV[2]')}
return {epoch, string.format('%.0f', now), id}`;

/**
 * The bounded per-channel event log: a Redis Stream per (tenant, channel), trimmed to a maximum
 * length and expiring after the maximum age of silence. Offsets are `<epoch>.<stream id>`: the
 * epoch changes when Redis loses its data, so an offset from before a flush never recovers.
 * Every call offers a fresh candidate epoch (SET NX keeps the stored one): a per-process candidate
 * would come back unchanged when the process that set the epoch sets it again after Redis
 * restarted empty, and old offsets would then "recover" an empty log: a silent gap.
 */
@Injectable()
export class EventLogService implements OnModuleInit {
  private readonly redis: Redis;
  /** Standalone and Sentinel: one epoch for every channel (Redis loses its data as a whole). */
  private readonly epochKey: string;
  private readonly epochSeed = randomBytes(4).toString('hex');
  private epochCounter = 0;
  private readonly maxLength: number;
  private readonly maxAgeMs: number;
  private readonly presenceMaxAgeMs: number;

  constructor(
    private readonly redisService: RedisService,
    config: AppConfig,
  ) {
    this.redis = redisService.client;
    this.epochKey = redisService.key('rt', 'epoch');
    this.maxLength = config.realtime.logMaxLength;
    this.maxAgeMs = config.realtime.logMaxAgeMs;
    this.presenceMaxAgeMs = Math.min(config.realtime.presenceLogMaxAgeMs, config.realtime.logMaxAgeMs);
  }

  onModuleInit(): void {
    this.redis.defineCommand('tetherLogAppend', { numberOfKeys: 2, lua: APPEND });
    this.redis.defineCommand('tetherLogRead', { numberOfKeys: 2, lua: READ });
    this.redis.defineCommand('tetherLogAppendSequenced', { numberOfKeys: 3, lua: APPEND_SEQUENCED });
    this.redis.defineCommand('tetherLogCurrent', { numberOfKeys: 2, lua: CURRENT });
  }

  /** A candidate epoch no other call offers (this process's random seed and a counter). */
  private candidateEpoch(): string {
    this.epochCounter = (this.epochCounter + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.epochSeed}${this.epochCounter.toString(36)}`;
  }

  // A channel's keys share its hash tag (one Redis Cluster node; channels spread over the masters).
  private streamKey(tenantId: string, channel: string): string {
    return this.redisService.tagged(`${tenantId}|${channel}`, 'rt', 'log', tenantId, channel);
  }

  /** How long a channel's log lives after its last event; offsets older than that do not recover. */
  private maxAgeOf(channel: string): number {
    return channel.startsWith('presence:') ? this.presenceMaxAgeMs : this.maxAgeMs;
  }

  /** Presence logs are kept only while read (see KEEP): how long a read keeps one, else 0. */
  private keepMsOf(channel: string): number {
    return channel.startsWith('presence:') ? this.presenceMaxAgeMs : 0;
  }

  private sequenceKey(tenantId: string, channel: string): string {
    return this.redisService.tagged(`${tenantId}|${channel}`, 'rt', 'logseq', tenantId, channel);
  }

  /**
   * On a Redis Cluster each channel has its own epoch, beside its stream: a failover that loses a
   * master's recent writes changes the epoch of exactly the channels that node held.
   */
  private epochKeyOf(tenantId: string, channel: string): string {
    return this.redisService.clustered ? this.redisService.tagged(`${tenantId}|${channel}`, 'rt', 'epoch') : this.epochKey;
  }

  /**
   * Appends events to one channel in one round trip, in order; returns their offsets. `ifWatched`
   * (presence changes): appended only while the presence channel's log is read (see KEEP), else
   * none (an empty array).
   */
  async appendAll(
    tenantId: string,
    channel: string,
    events: { event: string; data: unknown }[],
    { ifWatched = false }: { ifWatched?: boolean } = {},
  ): Promise<string[]> {
    const [epoch, ...ids] = (await (this.redis as RedisWithLog).tetherLogAppend(
      this.streamKey(tenantId, channel),
      this.epochKeyOf(tenantId, channel),
      this.candidateEpoch(),
      this.maxLength,
      this.maxAgeOf(channel),
      ifWatched && this.keepMsOf(channel) ? '1' : '0',
      ...events.flatMap(({ event, data }) => [event, JSON.stringify(data ?? null)]),
    )) as string[];
    return ids.map((id) => `${epoch}.${id}`);
  }

  /**
   * Appends an outbox event whose channel sequence number is `seq` (1, 2, ... per channel in commit
   * order): its offset, or `duplicate` (already in the log: not appended again), `gap` (an earlier
   * one is not in the log yet: not appended, so the log stays in commit order) or `unknown` (the log
   * does not know the channel's last sequence: append with `force` once no earlier event waits).
   */
  async appendSequenced(
    tenantId: string,
    channel: string,
    seq: number,
    event: string,
    data: unknown,
    force: 'no' | 'unknown' | 'gap' = 'no',
  ): Promise<string | 'duplicate' | 'gap' | 'unknown'> {
    const [epoch, id] = (await (this.redis as RedisWithLog).tetherLogAppendSequenced(
      this.streamKey(tenantId, channel),
      this.epochKeyOf(tenantId, channel),
      this.sequenceKey(tenantId, channel),
      this.candidateEpoch(),
      this.maxLength,
      this.maxAgeOf(channel),
      event,
      JSON.stringify(data ?? null),
      seq,
      force === 'gap' ? 2 : force === 'unknown' ? 1 : 0,
    )) as [string, string];
    return id === 'duplicate' || id === 'gap' || id === 'unknown' ? id : `${epoch}.${id}`;
  }

  /**
   * Up to `limit` events after `since` (an offset, an ISO time, epoch milliseconds, or undefined
   * for the newest). Never a silent gap: if the log no longer reaches back to `since` (trimmed,
   * expired, or another epoch after Redis lost its data), `recovered` is false. What comes with it
   * depends on the reader: recovery (the socket's `since`) is all or nothing, so no events; a
   * poller (`partial`) gets what the log still holds after `since` (the whole log when `since` is
   * from another epoch), oldest first, so a page is never empty while events exist.
   */
  async read(
    tenantId: string,
    channel: string,
    since: string | undefined,
    limit: number,
    { partial = false }: { partial?: boolean } = {},
  ): Promise<ReadResult> {
    const after = this.resolveSince(since);
    const [epoch, exists, lastId, firstId, entries, trimmed] = await this.readRaw(tenantId, channel, after ? after.id : 'latest', limit);
    const latest = `${epoch}.${lastId}`;

    if (!after) {
      const events = entries.reverse().map((e) => this.toEvent(epoch, e));
      return { recovered: true, events, offset: latest, hasMore: false };
    }
    const sinceId = after.id;
    const epochMatches = after.epoch === undefined || after.epoch === epoch;
    const tooOld = sinceId[0] < Date.now() - this.maxAgeOf(channel);
    const inFuture = exists === 1 && after.epoch !== undefined && compareIds(sinceId, parseId(lastId)!) > 0;
    // Trimming only removes the oldest entries: if the oldest left is newer than `since` and the
    // stream ever lost an entry, some events after `since` may be gone (conservative when exactly
    // `since` was the last trimmed). Never trimmed: the stream holds everything after `since`
    // (it cannot have expired and restarted since then, as `since` is younger than the max age).
    const trimmedPast = exists === 1 && trimmed === 1 && compareIds(parseId(firstId)!, sinceId) > 0;
    if (!epochMatches || tooOld || inFuture || trimmedPast) {
      if (!partial) return { recovered: false, events: [], offset: latest, hasMore: false };
      // Ids of another epoch (or ahead of the log) say nothing about this log: all of it, from the oldest.
      const held = epochMatches && !inFuture ? entries : (await this.readRaw(tenantId, channel, [0, 0], limit))[4];
      return { recovered: false, ...this.page(epoch, held, latest) };
    }
    // A missing stream means no event for maxAge, and since is younger than that: nothing missed.
    return { recovered: true, ...this.page(epoch, entries, latest) };
  }

  private page(epoch: string, entries: [string, string[]][], latest: string): Omit<ReadResult, 'recovered'> {
    const events = entries.map((e) => this.toEvent(epoch, e));
    const offset = events.length ? events[events.length - 1].offset : latest;
    return { events, offset, hasMore: events.length > 0 && offset !== latest };
  }

  /** One READ: `after` an id (exclusive), or the newest `limit` entries (newest first). */
  private async readRaw(
    tenantId: string,
    channel: string,
    after: StreamId | 'latest',
    limit: number,
  ): Promise<[string, number, string, string, [string, string[]][], number]> {
    return (await (this.redis as RedisWithLog).tetherLogRead(
      this.streamKey(tenantId, channel),
      this.epochKeyOf(tenantId, channel),
      this.candidateEpoch(),
      after === 'latest' ? 'latest' : `${after[0]}-${after[1]}`,
      limit,
      Number.MAX_SAFE_INTEGER,
      this.keepMsOf(channel),
    )) as [string, number, string, string, [string, string[]][], number];
  }

  /**
   * The channel's current offset, without reading events. For a channel with no event yet it is a
   * position in time (just before Redis's clock when asked; read first, so any event appended after
   * the empty read has a later id), so that the offset still recovers what follows it.
   */
  async currentOffsets(tenantId: string, channels: string[]): Promise<Record<string, string>> {
    // One script per channel (each may live on another Redis Cluster node), sent together.
    const answers = await Promise.all(
      channels.map(
        (c) =>
          (this.redis as RedisWithLog).tetherLogCurrent(
            this.streamKey(tenantId, c),
            this.epochKeyOf(tenantId, c),
            this.candidateEpoch(),
            this.keepMsOf(c),
          ) as Promise<[string, string, string]>,
      ),
    );
    return Object.fromEntries(
      channels.map((c, i) => {
        const [epoch, now, newest] = answers[i];
        return [c, `${epoch}.${newest || `${Number(now) - 1}-${Number.MAX_SAFE_INTEGER}`}`];
      }),
    );
  }

  /**
   * Accepts `<epoch>.<ms>-<seq>` (an offset), an ISO time, or epoch milliseconds (the venues app's
   * `since` timestamps: `Date.now()` or `toISOString()`).
   */
  private resolveSince(since: string | undefined): { epoch?: string; id: StreamId } | undefined {
    if (since === undefined || since === '') return undefined;
    const dot = since.indexOf('.');
    const asOffset = dot > 0 ? parseId(since.slice(dot + 1)) : undefined;
    if (asOffset) return { epoch: since.slice(0, dot), id: asOffset };
    // A time T means "events published after T": ids from T+1 ms on.
    if (/^\d{1,15}$/.test(since)) return { id: [Number(since), Number.MAX_SAFE_INTEGER] };
    const time = Date.parse(since);
    if (/^\d{4}-\d{2}-\d{2}T/.test(since) && !Number.isNaN(time)) return { id: [time, Number.MAX_SAFE_INTEGER] };
    throw new InvalidOffsetError(since);
  }

  private toEvent(epoch: string, [id, fields]: [string, string[]]): LoggedEvent {
    const record: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) record[fields[i]] = fields[i + 1];
    return {
      event: record.e,
      data: JSON.parse(record.d),
      offset: `${epoch}.${id}`,
      timestamp: new Date(Number(id.slice(0, id.indexOf('-')))).toISOString(),
    };
  }
}

export class InvalidOffsetError extends Error {
  constructor(readonly value: string) {
    super(`"${value}" is neither an offset from this server, an ISO time nor epoch milliseconds`);
  }
}

type RedisWithLog = Redis & {
  tetherLogAppend(...args: (string | number)[]): Promise<unknown>;
  tetherLogRead(...args: (string | number)[]): Promise<unknown>;
  tetherLogAppendSequenced(...args: (string | number)[]): Promise<unknown>;
  tetherLogCurrent(...args: (string | number)[]): Promise<unknown>;
};
