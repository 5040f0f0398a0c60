import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metric, Registry } from 'prom-client';
import request from 'supertest';
import { MetricsService } from '../src/core/metrics/metrics.service';
import { startTestApp, TestApp } from './support/test-app';

/**
 * deploy/grafana/tether.json queries only what GET /metrics really exports: every metric name in
 * its panels' PromQL and its variables' queries is a `# TYPE` of a booted app's scrape (a
 * `_bucket`, `_sum` or `_count` one of a histogram's), and every label it filters or groups by is
 * one of that metric's labels or one Prometheus attaches to a target (job, pod...).
 */

const DASHBOARD = join(__dirname, '..', 'deploy', 'grafana', 'tether.json');
const DATASOURCE_UID = '${datasource}';
/** Labels the scrape adds, not the app (kubernetes service discovery / prometheus-operator relabelling). */
const TARGET_LABELS = new Set(['job', 'instance', 'pod', 'namespace', 'container', 'service', 'endpoint', 'node']);
/** Grafana's own variables a query may use, besides the dashboard's. */
const GRAFANA_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__range_s']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2']);
/** PromQL functions and aggregations the dashboard may call (a typo here is a broken panel too). */
const FUNCTIONS = new Set([
  ...['sum', 'min', 'max', 'avg', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values'],
  ...['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'resets', 'changes', 'histogram_quantile'],
  ...['abs', 'ceil', 'floor', 'round', 'clamp', 'clamp_min', 'clamp_max', 'scalar', 'vector', 'time', 'timestamp'],
  ...['sort', 'sort_desc', 'absent', 'absent_over_time', 'label_replace', 'label_join'],
  ...['avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'last_over_time', 'quantile_over_time'],
]);

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

/** What one PromQL expression reads: metric selectors with their matchers' label names, and the labels it groups or matches on. */
interface Reads {
  selectors: { name: string; labels: string[] }[];
  grouping: string[];
  problems: string[];
}

function promqlReads(expr: string): Reads {
  const problems: string[] = [];
  const variables = [...expr.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]);
  // Strings (matcher values, which may hold $variables) and ranges ([5m], [$__rate_interval], [1h:1m]) carry no names.
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""').replace(/\[[^\]]*\]/g, '');
  if (bare.includes('$')) problems.push(`a variable outside a string or range in ${expr}`);
  const tokens = [...bare.matchAll(/[A-Za-z_:][\w:]*|\{[^}]*\}|[(),]|[^\sA-Za-z_:{}(),]+/g)].map((m) => m[0]);
  const selectors: Reads['selectors'] = [];
  const grouping: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = tokens[i + 1];
    if (token.startsWith('{')) {
      problems.push(`a selector without a metric name in ${expr}`);
    } else if (!/^[A-Za-z_:]/.test(token) || KEYWORDS.has(token)) {
      continue;
    } else if (GROUPING.has(token)) {
      if (next !== '(') continue; // group_left without labels
      for (i += 2; i < tokens.length && tokens[i] !== ')'; i++) if (tokens[i] !== ',') grouping.push(tokens[i]);
    } else if (next === '(' || (FUNCTIONS.has(token) && GROUPING.has(next))) {
      // A call, or an aggregation whose `by (...)` comes first (`sum by (le) (...)`).
      if (!FUNCTIONS.has(token)) problems.push(`unknown function ${token}() in ${expr}`);
    } else {
      const labels = next?.startsWith('{') ? [...next.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]) : [];
      selectors.push({ name: token, labels });
      if (next?.startsWith('{')) i++;
    }
  }
  for (const v of variables)
    if (!GRAFANA_VARIABLES.has(v) && !['job', 'pod'].includes(v)) problems.push(`unknown variable $${v} in ${expr}`);
  return { selectors, grouping, problems };
}

/** The panels at any depth (a collapsed row holds its panels). */
function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every PromQL expression of the dashboard, with where it is; a `label_values(selector, label)` variable gives its selector and label. */
function queriesOf(dashboard: Dashboard): { where: string; expr: string; label?: string }[] {
  const queries: { where: string; expr: string; label?: string }[] = [];
  for (const panel of allPanels(dashboard.panels))
    for (const target of panel.targets ?? []) queries.push({ where: `panel ${panel.id} "${panel.title}"`, expr: target.expr ?? '' });
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const labelValues = /^\s*label_values\((.*),\s*(\w+)\s*\)\s*$/.exec(query);
    if (labelValues) queries.push({ where: `variable $${v.name}`, expr: labelValues[1], label: labelValues[2] });
    else queries.push({ where: `variable $${v.name}`, expr: query });
  }
  return queries;
}

/** The metrics of a scrape: `# TYPE <name> <type>` lines. */
function exportedTypes(scrape: string): Map<string, string> {
  return new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** The labels the app gives a metric: prom-client's labelNames, or for a hand-made metric (Redis command durations) those of its samples. */
async function labelsOf(registry: Registry, name: string): Promise<Set<string>> {
  const metric = registry.getSingleMetric(name) as (Metric & { labelNames?: string[] }) | undefined;
  if (!metric) return new Set();
  if (metric.labelNames) return new Set(metric.labelNames);
  const { values } = await metric.get();
  return new Set(values.flatMap((v) => Object.keys(v.labels)).filter((l) => l !== 'le'));
}

/** Everything the dashboard queries that the app does not export; empty when it is all there. */
async function missingFromApp(dashboard: Dashboard, scrape: string, registry: Registry): Promise<string[]> {
  const types = exportedTypes(scrape);
  const problems: string[] = [];
  for (const { where, expr, label } of queriesOf(dashboard)) {
    const reads = promqlReads(expr);
    problems.push(...reads.problems.map((p) => `${where}: ${p}`));
    if (reads.selectors.length === 0) problems.push(`${where}: no metric in ${expr}`);
    const known = new Set([...TARGET_LABELS, '__name__']);
    let unresolved = false;
    for (const { name, labels } of reads.selectors) {
      const suffix = /_(bucket|sum|count)$/.exec(name);
      const base = suffix ? name.slice(0, -suffix[0].length) : name;
      let metric = name;
      if (suffix && ['histogram', 'summary'].includes(types.get(base) ?? '') && !types.has(name)) {
        metric = base;
        if (suffix[1] === 'bucket' && types.get(base) !== 'histogram')
          problems.push(`${where}: ${name}, but ${base} is a ${types.get(base)}`);
      }
      if (!types.has(metric)) {
        problems.push(`${where}: ${name} is not exported by GET /metrics`);
        unresolved = true;
        continue;
      }
      const own = await labelsOf(registry, metric);
      if (metric !== name && suffix?.[1] === 'bucket') own.add('le');
      for (const l of own) known.add(l);
      for (const l of labels) if (!own.has(l) && !TARGET_LABELS.has(l)) problems.push(`${where}: ${name} has no label ${l}`);
    }
    // (Labels of a metric that is not there are not judged: its name is the problem.)
    if (!unresolved)
      for (const l of [...reads.grouping, ...(label ? [label] : [])])
        if (!known.has(l)) problems.push(`${where}: no metric of it has label ${l}`);
  }
  return problems;
}

describe('the Grafana dashboard deploy/grafana/tether.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  let t: TestApp;
  let scrape: string;

  beforeAll(async () => {
    t = await startTestApp();
    // prom-client prints `# HELP` and `# TYPE` for every registered metric, samples or not (a labelled
    // counter nobody incremented yet has no series): no traffic is needed for the names to show.
    scrape = (await request(t.url).get('/metrics').expect(200)).text;
  });
  afterAll(() => t?.close());

  it('is a dashboard Grafana imports: title, uid, unique panel ids, a layout on 24 columns, every query on the ${datasource} variable', () => {
    expect(dashboard.title).toBe('Tether');
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variables = dashboard.templating?.list ?? [];
    expect(variables.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variables.map((v) => v.name)).toEqual(expect.arrayContaining(['job', 'pod']));
    for (const v of variables.filter((v) => v.type === 'query')) expect(v.datasource?.uid).toBe(DATASOURCE_UID);

    const panels = allPanels(dashboard.panels);
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id! > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(panels.filter((p) => p.type === 'row').length).toBeGreaterThanOrEqual(5);
    const queried = panels.filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThanOrEqual(20);
    for (const p of queried) {
      const where = `panel ${p.id} "${p.title}"`;
      expect([where, p.title]).toEqual([where, expect.stringMatching(/\S/)]);
      expect([where, p.type]).toEqual([where, expect.stringMatching(/^(timeseries|stat|gauge|bargauge|table|heatmap)$/)]);
      expect([where, p.datasource]).toEqual([where, { type: 'prometheus', uid: DATASOURCE_UID }]);
      expect([where, (p.targets?.length ?? 0) > 0]).toEqual([where, true]);
      expect(new Set(p.targets!.map((x) => x.refId)).size).toBe(p.targets!.length);
      for (const target of p.targets!)
        expect([where, target.datasource?.uid, target.expr]).toEqual([where, DATASOURCE_UID, expect.stringMatching(/\S/)]);
    }
    // Panels (rows included) sit on the 24-column grid and do not overlap.
    const boxes = panels.map((p) => ({ id: p.id, ...p.gridPos! }));
    expect(boxes.filter((b) => !(b.x >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= 24 && b.y >= 0))).toEqual([]);
    const overlapping = boxes.flatMap((a) =>
      boxes
        .filter((b) => a.id! < b.id! && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
        .map((b) => [a.id, b.id]),
    );
    expect(overlapping).toEqual([]);
  });

  it('queries only metrics and labels GET /metrics exports', async () => {
    const registry = t.app.get(MetricsService).registry;
    expect(await missingFromApp(dashboard, scrape, registry)).toEqual([]);
    // And it covers what the issue asks to watch.
    const names = new Set(queriesOf(dashboard).flatMap(({ expr }) => promqlReads(expr).selectors.map((s) => s.name)));
    for (const name of [
      'tether_realtime_sockets',
      'tether_realtime_disconnects_total',
      'tether_realtime_publish_to_emit_seconds_bucket',
      'tether_outbox_depth',
      'tether_outbox_oldest_age_seconds',
      'tether_push_sent_total',
      'tether_push_failed_total',
      'tether_push_retried_total',
      'tether_push_tokens_deactivated_total',
      'tether_queue_jobs',
      'tether_sync_pulls_total',
      'tether_sync_bulk_results_total',
      'tether_http_request_duration_seconds_bucket',
      'tether_process_resident_memory_bytes',
      'tether_nodejs_eventloop_lag_p99_seconds',
      'tether_redis_command_duration_seconds_bucket',
      'tether_redis_command_errors_total',
      'tether_db_pool_connections',
      'tether_db_pool_waiting',
      'tether_delivery_first_ack_seconds_bucket',
      'tether_delivery_pushes_total',
      'tether_delivery_pushes_avoided_total',
      'tether_delivery_acks_total',
    ])
      expect([name, names.has(name)]).toEqual([name, true]);
  });

  it('would catch a panel querying a name or a label that is not exported', async () => {
    const registry = t.app.get(MetricsService).registry;
    const broken = (expr: string): Dashboard => ({
      panels: [{ id: 1, title: 'broken', targets: [{ refId: 'A', expr }] }],
      templating: { list: [] },
    });
    const check = (expr: string) => missingFromApp(broken(expr), scrape, registry);
    expect(await check('sum(rate(tether_realtime_socket_connects_total{job=~"$job"}[$__rate_interval]))')).toEqual([
      'panel 1 "broken": tether_realtime_socket_connects_total is not exported by GET /metrics',
    ]);
    expect(await check('histogram_quantile(0.99, sum by (le) (rate(tether_http_request_seconds_bucket[5m])))')).toEqual([
      'panel 1 "broken": tether_http_request_seconds_bucket is not exported by GET /metrics',
    ]);
    expect(await check('tether_outbox_depth_bucket')).toEqual([
      'panel 1 "broken": tether_outbox_depth_bucket is not exported by GET /metrics',
    ]);
    expect(await check('sum by (reasons) (rate(tether_push_failed_total{provider="fcm"}[5m]))')).toEqual([
      'panel 1 "broken": tether_push_failed_total has no label provider',
      'panel 1 "broken": no metric of it has label reasons',
    ]);
    expect(await check('histogram_quantile(0.5, sum by (le) (rates(tether_push_send_duration_seconds_bucket[5m])))')).toEqual([
      'panel 1 "broken": unknown function rates() in histogram_quantile(0.5, sum by (le) (rates(tether_push_send_duration_seconds_bucket[5m])))',
    ]);
    // The real names pass: a histogram's series, a counter's _total, a process metric.
    expect(
      await check(
        'sum(rate(tether_redis_command_duration_seconds_sum[5m])) / sum(rate(tether_redis_command_duration_seconds_count[5m])) + tether_process_resident_memory_bytes{pod=~"$pod"}',
      ),
    ).toEqual([]);
  });
});
