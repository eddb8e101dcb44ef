/**
 * The dashboard's pure parts: windows and buckets, totals and runs, the chart's scale and its SVG,
 * the session value and the sign-in redirect. Reports are built with the store's own builder.
 */
import { describe, expect, it } from 'vitest';
import type { ReapReport } from '../../lib/agent-contract.js';
import { bucketize, isFailing, matchesStatus, summarizeRuns, totals, totalsByHost, unregisteredShare, windowFor } from '../../functions/dashboard/aggregate.js';
import { BarChart, chartMax, niceScale, timeAxis } from '../../functions/dashboard/charts.js';
import { formatInstant, formatOffset, removalText, reportProblem } from '../../functions/dashboard/format.js';
import { hostChartGroups, MAX_RUNS_CHARTED_ONE_BY_ONE } from '../../functions/dashboard/pages/host.js';
import { lastReapWhy } from '../../functions/dashboard/pages/parts.js';
import { ReportPage } from '../../functions/dashboard/pages/report.js';
import { createDashboard } from '../../functions/dashboard/routes.js';
import { createSessionValue, SESSION_COOKIE, safeNext, SESSION_SECONDS, tokenMatches, verifySessionValue } from '../../functions/dashboard/session.js';
import { buildReportItem, type ReportInput } from '../../functions/store/index.js';
import type { Host, ReportItem, ReportStatus } from '../../functions/store/schemas.js';

const NOW = Date.parse('2026-03-10T12:34:56.000Z');
const HOUR = 3_600_000;

function report(hostId: string, runId: string, startedAt: number, status: ReportStatus, counts?: { orphans: number; removed: number; failed: number }): ReportItem {
  const at = new Date(startedAt).toISOString();
  const agentReport: ReapReport | undefined = counts
    ? {
        runId,
        hostId,
        engineId: 'engine-unit',
        clockOffsetMs: 0,
        status: status === 'partial' || status === 'capped' || status === 'dry-run' ? status : 'ok',
        startedAt: at,
        finishedAt: at,
        durationMs: 5,
        dryRun: status === 'dry-run',
        counts: { labelled: counts.orphans + 2, tracked: 2, orphans: counts.orphans, young: 0, stopped: counts.removed, removed: counts.removed, vanished: 0, failed: counts.failed },
        containers: [],
      }
    : undefined;
  const input: ReportInput = { hostId, runId, trigger: 'schedule', status, startedAt: at, finishedAt: at, durationMs: 5, dryRun: status === 'dry-run', force: false, attempts: 1, ...(agentReport ? { agentReport } : { error: 'agent is unreachable' }) };
  return buildReportItem(input, { ttlDays: 90, nowMs: NOW });
}

describe('windows and buckets', () => {
  it('aligns buckets to the bucket width and covers the range up to now', () => {
    const w = windowFor('24h', NOW);
    expect(w.since).toBe(NOW - 24 * HOUR);
    expect(w.firstBucket).toBe(Date.parse('2026-03-09T12:00:00.000Z'));
    // 12:00 yesterday … 12:00 today: 25 hourly buckets, the last one partial.
    expect(w.buckets).toBe(25);
    expect(w.firstBucket + (w.buckets - 1) * w.bucketMs).toBeLessThanOrEqual(NOW);
    expect(w.firstBucket + w.buckets * w.bucketMs).toBeGreaterThan(NOW);
    expect(windowFor('30d', NOW).bucketMs).toBe(24 * HOUR);
    expect(windowFor('1h', NOW).buckets).toBe(13);
  });

  it('puts each report in the bucket of its run start and sums its counts; reports outside the window are left out', () => {
    const w = windowFor('24h', NOW);
    const reports = [
      report('a', 'run-00000001', NOW - 10 * 60_000, 'ok', { orphans: 3, removed: 3, failed: 0 }),
      report('b', 'run-00000001', NOW - 10 * 60_000, 'partial', { orphans: 4, removed: 2, failed: 2 }),
      report('c', 'run-00000001', NOW - 10 * 60_000, 'unreachable'),
      report('a', 'run-00000002', NOW - 5 * HOUR, 'dry-run', { orphans: 7, removed: 0, failed: 0 }),
      report('a', 'run-00000003', NOW - 25 * HOUR, 'ok', { orphans: 9, removed: 9, failed: 0 }),
    ];
    const buckets = bucketize(reports, w);
    const last = buckets[buckets.length - 1];
    expect(last).toMatchObject({ start: Date.parse('2026-03-10T12:00:00.000Z'), found: 7, removed: 5, failed: 2, reports: 3, failingReports: 2 });
    const fiveAgo = buckets.find((b) => b.start === Date.parse('2026-03-10T07:00:00.000Z'));
    expect(fiveAgo).toMatchObject({ found: 7, removed: 0, reports: 1, failingReports: 0 });
    // The 25 h old report is outside: the buckets add up to the 4 reports inside.
    expect(buckets.reduce((s, b) => s + b.reports, 0)).toBe(4);
    expect(buckets.reduce((s, b) => s + b.removed, 0)).toBe(5);
  });

  it('classifies failing statuses (red) and filters by status', () => {
    for (const s of ['error', 'unreachable', 'timeout', 'refused', 'partial', 'capped'] as const) expect(isFailing(s), s).toBe(true);
    for (const s of ['ok', 'dry-run'] as const) expect(isFailing(s), s).toBe(false);
    expect(matchesStatus('capped', 'failing')).toBe(true);
    expect(matchesStatus('ok', 'failing')).toBe(false);
    expect(matchesStatus('ok', 'ok')).toBe(true);
    expect(matchesStatus('ok', undefined)).toBe(true);
    expect(matchesStatus('timeout', 'error')).toBe(false);
  });
});

describe('totals and runs', () => {
  const reports = [
    report('b', 'run-00000002', NOW - HOUR, 'ok', { orphans: 1, removed: 1, failed: 0 }),
    report('a', 'run-00000002', NOW - HOUR, 'capped', { orphans: 50, removed: 0, failed: 0 }),
    report('a', 'run-00000001', NOW - 2 * HOUR, 'partial', { orphans: 3, removed: 1, failed: 2 }),
    report('c', 'run-00000001', NOW - 2 * HOUR, 'timeout'),
  ];

  it('totals count distinct runs, sum counts, and count failing reports', () => {
    expect(totals(reports)).toEqual({ runs: 2, reports: 4, found: 54, removed: 2, failed: 2, failingReports: 3 });
    const byHost = totalsByHost(reports);
    expect(byHost.get('a')).toEqual({ runs: 2, reports: 2, found: 53, removed: 1, failed: 2, failingReports: 2 });
    expect(byHost.get('c')).toEqual({ runs: 1, reports: 1, found: 0, removed: 0, failed: 0, failingReports: 1 });
    expect(totals([])).toEqual({ runs: 0, reports: 0, found: 0, removed: 0, failed: 0, failingReports: 0 });
  });

  it('tells the share of hosts no longer registered apart, by host (issue 11)', () => {
    const share = unregisteredShare(reports, new Set(['a']));
    expect(share.hosts.map((h) => h.hostId)).toEqual(['b', 'c']);
    const rest = reports.filter((r) => r.hostId !== 'a');
    expect(share.totals).toEqual(totals(rest));
    expect(share.hosts.find((h) => h.hostId === 'b')?.totals).toEqual(totals(rest.filter((r) => r.hostId === 'b')));
    expect(share.totals.reports).toBeGreaterThan(0);
    expect(unregisteredShare(reports, new Set(['a', 'b', 'c']))).toEqual({ hosts: [], totals: totals([]) });
  });

  it('groups reports into runs, newest first, naming the failing hosts', () => {
    const runs = summarizeRuns(reports);
    expect(runs.map((r) => r.runId)).toEqual(['run-00000002', 'run-00000001']);
    expect(runs[0]).toMatchObject({ hosts: 2, found: 51, removed: 1, failingHosts: ['a'] });
    expect(runs[1]).toMatchObject({ hosts: 2, removed: 1, failed: 2, failingHosts: ['a', 'c'] });
  });

  it('says why a capped report touched nothing, and passes errors through as they are', () => {
    expect(reportProblem(reports[1]!)).toBe('capped: 50 orphans; nothing was touched');
    expect(reportProblem({ ...reports[1]!, maxReap: 20 })).toBe('capped: 50 orphans > max reap 20; nothing was touched');
    expect(reportProblem(reports[3]!)).toBe('agent is unreachable');
    expect(reportProblem(reports[0]!)).toBe('');
  });

  it('charts a host run by run while there are few runs, and per bucket beyond', () => {
    const w = windowFor('24h', NOW);
    const few = hostChartGroups(reports.filter((r) => r.hostId === 'a'), w);
    expect(few.perRun).toBe(true);
    // Oldest first, [found, removed, failed].
    expect(few.groups.map((g) => g.values)).toEqual([
      [3, 1, 2],
      [50, 0, 0],
    ]);
    const many = Array.from({ length: MAX_RUNS_CHARTED_ONE_BY_ONE + 1 }, (_, i) => report('a', `run-${String(i).padStart(8, '0')}`, NOW - i * 60_000, 'ok', { orphans: 1, removed: 1, failed: 0 }));
    const bucketed = hostChartGroups(many, w);
    expect(bucketed.perRun).toBe(false);
    expect(bucketed.groups).toHaveLength(w.buckets);
    expect(bucketed.groups.reduce((s, g) => s + (g.values[1] ?? 0), 0)).toBe(MAX_RUNS_CHARTED_ONE_BY_ONE + 1);
  });
});

describe('charts', () => {
  it('picks a whole-number scale of 1, 2 or 5 × 10^k that fits the largest value', () => {
    expect(niceScale(0)).toEqual({ top: 1, step: 1, ticks: [0, 1] });
    expect(niceScale(3)).toEqual({ top: 3, step: 1, ticks: [0, 1, 2, 3] });
    expect(niceScale(7)).toEqual({ top: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
    expect(niceScale(23)).toEqual({ top: 30, step: 10, ticks: [0, 10, 20, 30] });
    expect(niceScale(101).top).toBeGreaterThanOrEqual(101);
    for (const max of [1, 9, 10, 11, 99, 1234, 99_999]) {
      const s = niceScale(max);
      expect(s.top, String(max)).toBeGreaterThanOrEqual(max);
      expect(s.ticks.length, String(max)).toBeLessThanOrEqual(6);
      expect(Number.isInteger(s.step)).toBe(true);
    }
  });

  // The chart's geometry (charts.tsx): 960 wide, plot from x=52 to x=948.
  const PLOT = { left: 52, width: 960, plotW: 896 };
  /** timeAxis as BarChart calls it, with each drawn label's estimated box. */
  function axisFor(times: number[]) {
    const slot = PLOT.plotW / times.length;
    const axis = timeAxis(times, slot, PLOT.left, PLOT.width);
    const boxes = axis.labels.flatMap((label, i) => (label === undefined ? [] : [{ label, i, x: PLOT.left + i * slot + slot / 2, half: (label.length * 6.7) / 2 }]));
    return { ...axis, boxes };
  }
  /** What the issue asked: the drawn labels are all different, never overlap, and each names its own point. */
  function expectReadable(times: number[], format: (ms: number) => string, what: string) {
    const { boxes } = axisFor(times);
    const labels = boxes.map((b) => b.label);
    expect(new Set(labels).size, `${what}: ${labels.join(' ')}`).toBe(labels.length);
    for (let k = 1; k < boxes.length; k++) expect(boxes[k]!.x - boxes[k]!.half, what).toBeGreaterThan(boxes[k - 1]!.x + boxes[k - 1]!.half);
    for (const box of boxes) {
      expect(box.label, what).toBe(format(times[box.i]!));
      expect(box.x - box.half, what).toBeGreaterThanOrEqual(0);
      expect(box.x + box.half, what).toBeLessThanOrEqual(PLOT.width);
    }
    return labels;
  }
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  const clockS = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const day = (ms: number) => new Date(ms).toISOString().slice(5, 10);
  const dayClock = (ms: number) => `${day(ms)} ${clock(ms)}`;

  it('labels runs seconds apart by the second, never the same minute twice (issue 11)', () => {
    // 48 runs 2 s apart: the labels were "12:33", "12:33", "12:34", … before.
    const times = Array.from({ length: 48 }, (_, i) => NOW - (47 - i) * 2000);
    const labels = expectReadable(times, clockS, '48 runs 2 s apart');
    expect(labels.length).toBeGreaterThanOrEqual(4);
    expect(axisFor(times).note).toBe('UTC, 2026-03-10');
    // 10 s apart they span 8 minutes: the minutes say enough.
    expect(expectReadable(Array.from({ length: 48 }, (_, i) => NOW + i * 10_000), clock, '10 s apart').length).toBeGreaterThanOrEqual(4);
    // Two runs in one second: one label, not two alike.
    expect(expectReadable([NOW, NOW + 200], clock, 'same second')).toEqual(['12:34']);
  });

  it('labels a day of hourly buckets with the date, so 12:00 yesterday and 12:00 today differ', () => {
    const w = windowFor('24h', NOW);
    const times = Array.from({ length: w.buckets }, (_, i) => w.firstBucket + i * w.bucketMs);
    const labels = expectReadable(times, dayClock, '24h');
    expect(labels.length).toBeGreaterThanOrEqual(4);
    expect(labels[0]).toBe('03-09 12:00');
    expect(axisFor(times).note).toBe('UTC');
  });

  it('labels every range and run pattern readably', () => {
    for (const range of ['1h', '6h', '7d', '30d'] as const) {
      const w = windowFor(range, NOW);
      const times = Array.from({ length: w.buckets }, (_, i) => w.firstBucket + i * w.bucketMs);
      const format = range === '1h' || range === '6h' ? clock : day;
      expect(expectReadable(times, format, range).length, range).toBeGreaterThanOrEqual(4);
    }
    // A clock-only axis that crosses midnight names both dates.
    expect(axisFor([Date.parse('2026-03-09T23:30:00Z'), Date.parse('2026-03-10T00:30:00Z')]).note).toBe('UTC, 2026-03-09 – 2026-03-10');
    // Runs a minute apart, a few hours apart, days apart; one run; none.
    expectReadable(Array.from({ length: 48 }, (_, i) => NOW + i * 60_000), clock, 'a minute apart');
    expectReadable(Array.from({ length: 10 }, (_, i) => NOW + i * 3 * HOUR), dayClock, '3 h apart over a day');
    expectReadable(Array.from({ length: 40 }, (_, i) => NOW + i * 17 * HOUR), day, '17 h apart');
    expect(expectReadable([NOW], clock, 'one run')).toEqual(['12:34']);
    expect(timeAxis([], 10, PLOT.left, PLOT.width).labels).toEqual([]);
  });

  it('draws one rect per non-zero value with a tooltip, and the numbers as a table; text is escaped', async () => {
    const groups = [
      { at: Date.parse('2026-03-10T10:00:00Z'), title: '10:00 <b>x</b>', values: [3, 1] },
      { at: Date.parse('2026-03-10T11:00:00Z'), title: '11:00', values: [0, 0] },
      { at: Date.parse('2026-03-10T12:00:00Z'), title: '12:00', values: [5, 0] },
    ];
    expect(chartMax(groups, 'stacked')).toBe(5);
    expect(chartMax(groups, 'grouped')).toBe(5);
    const svg = String(await BarChart({ title: 'removed', groups, unit: 'containers', mode: 'stacked', series: [{ label: 'removed', className: 's-removed' }, { label: 'failed', className: 's-failed' }] }));
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).toContain('<title>12:00 — removed: 5</title>');
    expect(svg).toContain('10:00 &lt;b&gt;x&lt;/b&gt;');
    expect(svg).not.toContain('<b>x</b>');
    // The table under the chart: a row per group.
    expect(svg.match(/<th scope="row">/g)).toHaveLength(3);
    // The x labels, from each group's time, and the date they leave out.
    expect([...svg.matchAll(/<text class="xlabel"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['10:00', '11:00', '12:00']);
    expect(svg).toContain('times UTC, 2026-03-10');
  });

  it('writes instants in UTC', () => {
    expect(formatInstant('2026-03-10T07:05:09.123Z')).toBe('2026-03-10 07:05:09 UTC');
  });
});

describe('session', () => {
  const token = 'a-test-token-of-enough-length-1234';

  it('accepts its own value until it expires, and nothing else', () => {
    const value = createSessionValue(token, NOW);
    expect(value).not.toContain(token);
    expect(verifySessionValue(token, value, NOW)).toBe(true);
    expect(verifySessionValue(token, value, NOW + (SESSION_SECONDS - 1) * 1000)).toBe(true);
    expect(verifySessionValue(token, value, NOW + SESSION_SECONDS * 1000 + 1000)).toBe(false);
    // Another token (a rotated one) ends every session.
    expect(verifySessionValue(`${token}x`, value, NOW)).toBe(false);
    // A later expiry written by hand does not carry the old MAC.
    const [, expires, mac] = value.split('.');
    expect(verifySessionValue(token, `v1.${Number(expires) + 3600}.${mac}`, NOW)).toBe(false);
    // Nor may a forged value claim an expiry beyond a session's length.
    expect(verifySessionValue(token, createSessionValue(token, NOW + 10 * SESSION_SECONDS * 1000), NOW)).toBe(false);
    for (const bad of [undefined, '', 'v1', `v1.${expires}.`, `v2.${expires}.${mac}`, `${value}x`, token]) expect(verifySessionValue(token, bad, NOW), String(bad)).toBe(false);
  });

  it('compares a typed token exactly', () => {
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(token, `${token} `)).toBe(false);
    expect(tokenMatches(token, token.slice(0, -1))).toBe(false);
    expect(tokenMatches(token, '')).toBe(false);
  });

  it('only ever sends a signed-in browser back into the dashboard', () => {
    expect(safeNext('/dashboard')).toBe('/dashboard');
    expect(safeNext('/dashboard/hosts/h-1?range=7d')).toBe('/dashboard/hosts/h-1?range=7d');
    for (const bad of ['https://evil.example/', '//evil.example/dashboard', '/dashboard//evil', '/dashboardx', '/v1/hosts', '/dashboard/\\evil', '/dashboard/a b', 'javascript:alert(1)', undefined, 42])
      expect(safeNext(bad), String(bad)).toBe('/dashboard');
  });
});

describe('the header offers what the viewer can use (issue 11)', () => {
  const token = 'a-test-token-of-enough-length-1234';
  // Only pages that read nothing are requested: a store that is used fails the test.
  const store = new Proxy({}, { get: (_t, name) => { throw new Error(`the store was used: ${String(name)}`); } }) as never;
  const logger = { error: () => undefined, warn: () => undefined, info: () => undefined } as never;
  const header = async (response: Response) => {
    const text = await response.text();
    const head = /<header class="top">([\s\S]*?)<\/header>/.exec(text)?.[1] ?? '';
    return { links: [...head.matchAll(/<a [^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/g)].map((m) => `${m[2]} ${m[1]}`), signOut: head.includes('Sign out') };
  };

  it('signed out: the sign-in page only, no Fleet link, no sign-out', async () => {
    const dash = createDashboard({ store, logger, token, now: () => NOW });
    expect(await header(await dash.request('/login'))).toEqual({ links: ['clawbox-reaper /dashboard/login', 'Sign in /dashboard/login'], signOut: false });
    // The refused sign-in (cross-origin) is shown to a signed-out browser too.
    const refused = await dash.request('/login', { method: 'POST', headers: { origin: 'http://127.0.0.9:1', 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    expect(refused.status).toBe(403);
    expect(await header(refused)).toEqual({ links: ['clawbox-reaper /dashboard/login', 'Sign in /dashboard/login'], signOut: false });
  });

  it('signed in: the fleet and sign-out; on AWS (no sign-in here): the fleet, nothing to sign out of', async () => {
    const dash = createDashboard({ store, logger, token, now: () => NOW });
    const cookie = `${SESSION_COOKIE}=${createSessionValue(token, NOW)}`;
    const missing = await dash.request('/nowhere', { headers: { cookie } });
    expect(missing.status).toBe(404);
    expect(await header(missing)).toEqual({ links: ['clawbox-reaper /dashboard', 'Fleet /dashboard'], signOut: true });
    const aws = createDashboard({ store, logger, now: () => NOW });
    expect(await header(await aws.request('/nowhere'))).toEqual({ links: ['clawbox-reaper /dashboard', 'Fleet /dashboard'], signOut: false });
  });
});

describe('guards, quarantine, engines and clocks on the pages (S4, S10, S11, S12)', () => {
  const MIN = 60_000;
  const at = new Date(NOW - 2 * MIN).toISOString();
  const cappedReport = (cap: NonNullable<ReapReport['cap']>) =>
    buildReportItem(
      {
        hostId: 'h-cap', runId: 'run-00000009', trigger: 'api', status: 'capped', startedAt: at, finishedAt: at, durationMs: 5, dryRun: false, force: false, attempts: 1, maxReap: 100,
        agentReport: {
          runId: 'run-00000009', hostId: 'h-cap', engineId: 'engine-unit', clockOffsetMs: 0, status: 'capped', cap, startedAt: at, finishedAt: at, durationMs: 5, dryRun: false,
          counts: { labelled: cap.labelled, tracked: 0, orphans: cap.orphans, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0, quarantined: 0, restored: 0 },
          containers: [],
        },
      },
      { ttlDays: 90, nowMs: NOW },
    );

  it('names the guard that capped a report and what it compared', () => {
    expect(reportProblem(cappedReport({ guard: 'max-reap', limit: 10, orphans: 30, labelled: 31 }))).toBe('capped by max-reap: 30 orphans > limit 10 (of 31 labelled); nothing was touched');
    expect(reportProblem(cappedReport({ guard: 'max-reap-percent', limit: 2, orphans: 4, labelled: 5 }))).toContain('capped by max-reap-percent: 4 of 5 labelled are orphans, more than the 2 allowed');
    expect(reportProblem(cappedReport({ guard: 'fleet-max-reap', limit: 3, orphans: 8, labelled: 9 }))).toContain('REAPER_FLEET_MAX_REAP left this host 3 removals for 8 orphans');
  });

  it('says when a quarantined container is removed, relative to now', () => {
    expect(removalText(new Date(NOW + 8 * MIN).toISOString(), NOW)).toBe('removed after 2026-03-10 12:42:56 UTC (in 8 min)');
    expect(removalText(new Date(NOW - 3 * MIN).toISOString(), NOW)).toBe('removed after 2026-03-10 12:31:56 UTC (due 3 min ago: the next run removes it if it is still an orphan)');
    expect(formatOffset(7234)).toBe('+7.2 s');
    expect(formatOffset(-300)).toBe('-0.3 s');
  });

  it('says why a host\'s last reap failed: its error and code, or the guard of its capped report', () => {
    const host = (lastReap: Host['lastReap']): Host => ({ hostId: 'h-cap', agentUrl: 'http://127.0.0.1:1', enabled: true, createdAt: at, updatedAt: at, ...(lastReap ? { lastReap } : {}) });
    const report = cappedReport({ guard: 'max-reap-percent', limit: 2, orphans: 4, labelled: 5 });
    const capped = host({ runId: report.runId, at, status: 'capped', counts: report.counts });
    expect(lastReapWhy(capped, (h, r) => (h === report.hostId && r === report.runId ? report : undefined))).toContain('capped by max-reap-percent');
    expect(lastReapWhy(capped, () => undefined)).toBe('capped: 4 orphans; nothing was touched (the report says which guard fired)');
    const refused = host({ runId: report.runId, at, status: 'refused', counts: null, errorCode: 'engine_mismatch', error: 'the agent reports engine B, but this host is pinned to A' });
    expect(lastReapWhy(refused, () => undefined)).toBe('engine_mismatch: the agent reports engine B, but this host is pinned to A');
    expect(lastReapWhy(host({ runId: report.runId, at, status: 'ok', counts: report.counts }), () => undefined)).toBeUndefined();
    expect(lastReapWhy(host(undefined), () => undefined)).toBeUndefined();
  });

  it('renders a report\'s cap, engine, flagged clock, quarantine counts and each quarantined container\'s time left', async () => {
    const started = new Date(NOW - MIN).toISOString();
    const item = buildReportItem(
      {
        hostId: 'h-q', runId: 'run-00000010', trigger: 'schedule', status: 'ok', startedAt: started, finishedAt: started, durationMs: 5, dryRun: false, force: false, attempts: 1, clockOffsetMs: -7200,
        agentReport: {
          runId: 'run-00000010', hostId: 'h-q', engineId: 'ABCD:EFGH:IJKL:<b>x</b>', clockOffsetMs: -7200, status: 'ok', startedAt: started, finishedAt: started, durationMs: 5, dryRun: false,
          counts: { labelled: 4, tracked: 1, orphans: 2, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0, quarantined: 2, restored: 1 },
          containers: [
            { clawboxId: 'q-1', dockerId: 'a'.repeat(64), state: 'paused', createdAt: started, action: 'quarantined', quarantinedAt: new Date(NOW - 2 * MIN).toISOString(), removeAfter: new Date(NOW + 8 * MIN).toISOString(), paused: true },
            { clawboxId: 'q-2', dockerId: 'b'.repeat(64), state: 'exited', createdAt: started, action: 'quarantined', quarantinedAt: new Date(NOW - MIN).toISOString(), removeAfter: new Date(NOW + 9 * MIN).toISOString(), paused: false },
            { clawboxId: 'r-1', dockerId: 'c'.repeat(64), state: 'running', createdAt: started, action: 'restored' },
          ],
        },
      },
      { ttlDays: 90, nowMs: NOW },
    );
    expect(item.clockFlag).toBe(true);
    const html = String(await ReportPage({ report: item, range: '24h', nowMs: NOW, signedIn: false }));
    expect(html).toContain('removed after 2026-03-10 12:42:56 UTC (in 8 min)');
    expect(html).toContain('removed after 2026-03-10 12:43:56 UTC (in 9 min)');
    expect(html).toContain('paused (frozen, nothing lost)');
    expect(html).toContain('not running: left as it was');
    expect(html).toMatch(/<td class="n" data-count="quarantined">2<\/td>/);
    expect(html).toMatch(/<td class="n" data-count="restored">1<\/td>/);
    expect(html).toContain('‖ quarantined');
    expect(html).toContain('↺ restored');
    expect(html).toMatch(/<dd id="report-clock" class="bad-text" data-flag="true">-7.2 s off the control plane&#39;s \(more than 5 s/);
    // The engine id is the agent's word: escaped like everything else.
    expect(html).toContain('ABCD:EFGH:IJKL:&lt;b&gt;x&lt;/b&gt;');
    expect(html).not.toContain('<b>x</b>');
    expect(html).not.toContain('id="report-cap"');

    const capped = String(await ReportPage({ report: cappedReport({ guard: 'max-reap-percent', limit: 2, orphans: 4, labelled: 5 }), range: '24h', nowMs: NOW, signedIn: false }));
    expect(capped).toContain('<strong data-cap="guard">max-reap-percent</strong>');
    expect(capped).toContain('<span data-cap="limit">2</span>');
    expect(capped).toContain('<span data-cap="orphans">4</span>');
    expect(capped).toContain('<span data-cap="labelled">5</span>');
    expect(capped).toContain('clawbox-reaper hosts containers h-cap');
    expect(capped).toMatch(/<dd id="report-clock" class="" data-flag="false">\+0.0 s/);
  });
});
