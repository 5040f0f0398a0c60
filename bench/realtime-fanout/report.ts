/**
 * What the fan-out benchmark measured (per rate, per side, per adapter mode), the thresholds it
 * judges by, and its printed report: one table per mode, then a summary against the goals.
 */
import { fmt, table } from '../../tools/scratch';
import type { Mode, Target } from './targets';

// The knee: the first rate where any of these holds. We stop raising the rate after it.
export const KNEE_P99_MS = 100;
export const KNEE_DELIVERED_FRACTION = 0.95;
// A rate is run again (up to 3 runs in all) when it trips the knee or when the rest of the
// machine was busy during it (other CPU above half a core: someone else's work on a shared box).
export const MAX_RUNS = 3; // 2 with --quick
export const NOISY_OTHER_CPU = 50;
// The goals the summary checks.
const GOAL_THROUGHPUT = 0.8;
const GOAL_P99 = 1.5;
const GOAL_RSS = 1.5;
// Performance round two: connect + subscribe of every client at most 1.5x bare's time; Redis per
// connected client at most 1 KB (presence and its log cost 5 KB before).
const GOAL_CONNECT = 1.5;
const GOAL_REDIS_PER_CLIENT = 1024;

export interface StepResult {
  rate: number;
  expectedPerSec: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  /** Publish request round trip (send -> 202), p50 and p99. */
  ackP50: number;
  ackP99: number;
  lost: number;
  clientsWithLoss: number;
  duplicates: number;
  publishErrors: number;
  disconnected: number;
  /** CPU of the two servers together, and of the load generators together (100 = one core). */
  serverCpu: number;
  generatorCpu: number;
  /** Redis CPU, and everything else on the machine that is not this benchmark (other users of the box). */
  redisCpu: number;
  otherCpu: number;
  /** Why this rate is the knee, if it is. */
  knee: string | undefined;
  /** How many runs this rate took (see runRate); the last one is reported. */
  attempts: number;
}

export interface Side {
  target: Target;
  label: string;
  clients: number;
  rssPerSocket: number;
  connectMs: number;
  /** Redis keys, their bytes, and pub/sub channels of this target once its clients are connected. */
  redis: { keys: number; bytes: number; channels: number };
  steps: StepResult[];
}

export interface ModeResult {
  mode: Mode;
  tether: Side;
  baseline: Side;
}

function lossText(s: StepResult | undefined): string {
  if (!s) return '-';
  const extra = [
    s.publishErrors && `${s.publishErrors} pub err`,
    s.disconnected && `${s.disconnected} disc`,
    s.duplicates && `${s.duplicates} dup`,
  ]
    .filter(Boolean)
    .join(', ');
  return `${s.lost}${extra ? ` (${extra})` : ''}`;
}

const kneeOf = (s: Side) => s.steps.find((x) => x.knee);
/** Highest delivered msg/s at a rate below the side's knee (p99 <= 100 ms, no loss, >= 95%). */
const cleanThroughput = (s: Side) => Math.max(0, ...s.steps.filter((x) => !x.knee).map((x) => x.deliveredPerSec));

export function printMode({ mode, tether, baseline }: ModeResult, stepSeconds: number): string[] {
  const rates = [...new Set([...tether.steps, ...baseline.steps].map((s) => s.rate))].sort((a, b) => a - b);
  const mark = (s: StepResult | undefined) =>
    (s?.knee ? '*' : '') + (s && s.attempts > 1 ? `r${s.attempts}` : '') + (s && s.otherCpu > NOISY_OTHER_CPU ? '~' : '');
  const rows = rates.map((rate) => {
    const t = tether.steps.find((s) => s.rate === rate);
    const b = baseline.steps.find((s) => s.rate === rate);
    return [
      String(rate),
      fmt.n((t ?? b)!.expectedPerSec),
      fmt.n(t?.deliveredPerSec) + mark(t),
      fmt.n(b?.deliveredPerSec) + mark(b),
      fmt.x(t && b ? t.deliveredPerSec / b.deliveredPerSec : undefined),
      `${fmt.ms(t?.p50)} / ${fmt.ms(b?.p50)}`,
      `${fmt.ms(t?.p99)} / ${fmt.ms(b?.p99)}`,
      fmt.x(t && b ? t.p99 / Math.max(1, b.p99) : undefined),
      `${fmt.ms(t?.ackP99)} / ${fmt.ms(b?.ackP99)}`,
      `${fmt.pct(t?.serverCpu)} / ${fmt.pct(b?.serverCpu)}`,
      `${fmt.pct(t?.otherCpu)} / ${fmt.pct(b?.otherCpu)}`,
      lossText(t),
      lossText(b),
    ];
  });
  const rssRatio = tether.rssPerSocket / baseline.rssPerSocket;
  const kneeText = (s: Side) => {
    const k = kneeOf(s);
    return k ? `${k.rate}/s (${k.knee})` : `none up to ${s.steps[s.steps.length - 1].rate}/s`;
  };
  return [
    `\n=== adapter: ${mode} -- ${tether.clients} Tether / ${baseline.clients} baseline clients (half per instance), ${stepSeconds} s per rate ===`,
    table(
      [
        'pub/s',
        'expected msg/s',
        'delivered Tether',
        'delivered base',
        'thr T/B',
        'p50 ms T / B',
        'p99 ms T / B',
        'p99 T/B',
        'pub ack p99 ms T / B',
        'srv CPU T / B',
        'other CPU T / B',
        'lost Tether',
        'lost base',
      ],
      rows,
      { markdown: true },
    ),
    '(* knee: first rate with p99 > 100 ms, any loss, or delivered < 95% of expected; that side is not raised further.',
    ` rN: run N times (knee or noise), the last run shown. ~: still noisy (other CPU > ${NOISY_OTHER_CPU}%). 100% CPU = one core.`,
    ' srv CPU: both servers of the target. other CPU: the machine minus this benchmark and Redis, i.e. noise.)',
    `RSS per further idle socket (after a full GC): Tether ${fmt.kb(tether.rssPerSocket)}, baseline ${fmt.kb(baseline.rssPerSocket)}, ` +
      `ratio ${fmt.x(rssRatio)}`,
    `knee: Tether ${kneeText(tether)}; baseline ${kneeText(baseline)}`,
    `connect + subscribe of all clients: Tether ${(tether.connectMs / 1000).toFixed(1)} s, baseline ${(baseline.connectMs / 1000).toFixed(1)} s`,
    `Redis after connect: Tether ${tether.redis.keys} keys, ${fmt.kb(tether.redis.bytes / tether.clients)} per client, ` +
      `${tether.redis.channels} pub/sub channels; baseline ${baseline.redis.keys} keys, ${baseline.redis.channels} channels`,
  ];
}

export function summary({ mode, tether, baseline }: ModeResult): string {
  const noisy = (...steps: (StepResult | undefined)[]) => steps.some((x) => x && x.otherCpu > NOISY_OTHER_CPU);
  // A verdict that rests on a run someone else's load disturbed says so.
  const verdict = (ok: boolean, disturbed = false) => (ok ? 'PASS' : 'FAIL') + (disturbed ? ' (noisy)' : '');
  // Throughput: the highest delivered msg/s below each side's knee; the knees decide it.
  const thr = cleanThroughput(tether) / cleanThroughput(baseline);
  // p99 at the same rate: every rate both ran, except where bare Socket.IO itself was past its
  // knee (there the machine, not Tether, is the limit). The worst ratio counts.
  const baselineKnee = kneeOf(baseline)?.rate ?? Infinity;
  const common = tether.steps
    .map((t) => ({ t, b: baseline.steps.find((s) => s.rate === t.rate) }))
    .filter((p): p is { t: StepResult; b: StepResult } => !!p.b && p.t.rate < baselineKnee);
  const worst = common.reduce<{ ratio: number; rate: number; noisy: boolean } | undefined>((w, { t, b }) => {
    const ratio = t.p99 / Math.max(1, b.p99);
    return !w || ratio > w.ratio ? { ratio, rate: t.rate, noisy: noisy(t, b) } : w;
  }, undefined);
  const rss = tether.rssPerSocket / baseline.rssPerSocket;
  // "No loss below the knee": Tether loses nothing at any rate bare Socket.IO handles cleanly
  // (below the baseline's knee). Tether's own knee counts loss, so below it loss is 0 by definition.
  const lossBelow = common.reduce((s, { t }) => s + t.lost, 0);
  const lossy = common.filter(({ t }) => t.lost > 0).map(({ t }) => t);
  return (
    `SUMMARY ${mode}: throughput ${fmt.n(cleanThroughput(tether))} vs ${fmt.n(cleanThroughput(baseline))} msg/s = ${fmt.x(thr)} ` +
    // No clean rate on the baseline's side (its knee at the first rate): nothing to compare against.
    `(goal >= ${GOAL_THROUGHPUT}x) ${cleanThroughput(baseline) > 0 ? verdict(thr >= GOAL_THROUGHPUT, noisy(kneeOf(tether), kneeOf(baseline))) : 'NOT JUDGED'}; ` +
    (worst
      ? `p99 worst ${fmt.x(worst.ratio)} at ${worst.rate}/s (goal <= ${GOAL_P99}x) ${verdict(worst.ratio <= GOAL_P99, worst.noisy)}; `
      : 'p99: no rate below the baseline knee to compare; ') +
    // With few clients (--quick) RSS moves by less than the allocator's noise and can even shrink.
    `RSS/socket ${fmt.x(rss)} (goal <= ${GOAL_RSS}x) ${baseline.rssPerSocket > 0 && tether.rssPerSocket > 0 ? verdict(rss <= GOAL_RSS) : 'NOT JUDGED (RSS did not grow)'}; ` +
    (common.length
      ? `loss below the knee: ${lossBelow} over ${common.length} rate(s) ${verdict(lossBelow === 0, noisy(...lossy))}`
      : 'loss below the knee: no rate to judge')
  );
}

/** The connection goals, one line each: connect + subscribe time and Redis per client. */
export function connectionGoals({ mode, tether, baseline }: ModeResult): string[] {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const connect = tether.connectMs / Math.max(1, baseline.connectMs);
  const perClient = tether.redis.bytes / Math.max(1, tether.clients);
  return [
    `GOAL ${mode} connect + subscribe of ${fmt.n(tether.clients)} clients: Tether ${(tether.connectMs / 1000).toFixed(1)} s vs bare ` +
      `${(baseline.connectMs / 1000).toFixed(1)} s = ${fmt.x(connect)} (goal <= ${GOAL_CONNECT}x) ${verdict(connect <= GOAL_CONNECT)}`,
    `GOAL ${mode} Redis per connected client: ${fmt.n(Math.round(perClient))} B in ${fmt.n(tether.redis.keys)} keys ` +
      `(goal <= ${GOAL_REDIS_PER_CLIENT} B) ${verdict(perClient <= GOAL_REDIS_PER_CLIENT)}`,
  ];
}

export function compareModes(results: ModeResult[]): string | undefined {
  if (results.length < 2) return undefined;
  const [a, b] = results;
  // Highest rate both modes ran below Tether's knee: compare latency there.
  const clean = (r: ModeResult) => r.tether.steps.filter((s) => !s.knee).map((s) => s.rate);
  const common = clean(a).filter((rate) => clean(b).includes(rate));
  const at = common.length ? Math.max(...common) : undefined;
  const p99 = (r: ModeResult) => r.tether.steps.find((s) => s.rate === at)?.p99 ?? Infinity;
  const [ta, tb] = [cleanThroughput(a.tether), cleanThroughput(b.tether)];
  const faster = ta !== tb ? (ta > tb ? a : b).mode : p99(a) !== p99(b) ? (p99(a) < p99(b) ? a : b).mode : 'no difference at these rates';
  return (
    `Tether ${a.mode} vs ${b.mode}: throughput below the knee ${fmt.n(ta)} vs ${fmt.n(tb)} msg/s` +
    (at ? `, p99 at ${at}/s ${p99(a)} vs ${p99(b)} ms` : '') +
    `, RSS/socket ${fmt.kb(a.tether.rssPerSocket)} vs ${fmt.kb(b.tether.rssPerSocket)} -> faster for Tether: ${faster}`
  );
}
