import { describe, expect, it } from 'vitest';
import { alertsForRun, createAlerter, failureCount, scrub, SINK_ATTEMPTS } from '../../functions/reaper/alerts.js';
import { emfLine } from '../../functions/reaper/metrics.js';
import type { HostOutcome } from '../../functions/reaper/host-reap.js';
import type { RunResult } from '../../functions/reaper/run.js';
import type { ReportStatus } from '../../functions/store/schemas.js';
import { capturingLogger } from '../helpers/agent.js';

const counts = { labelled: 4, tracked: 1, orphans: 3, removed: 0, failed: 0, skipped: 0 } as unknown as HostOutcome['counts'];
const host = (hostId: string, status: ReportStatus, extra: Partial<HostOutcome> = {}): HostOutcome => ({ hostId, status, attempts: 1, durationMs: 5, counts, reportWritten: true, ...extra });
const result = (hosts: HostOutcome[]): RunResult => ({
  runId: 'run-1',
  trigger: 'schedule',
  startedAt: new Date(0).toISOString(),
  finishedAt: new Date(10).toISOString(),
  durationMs: 10,
  dryRun: false,
  force: false,
  hosts,
  skipped: [],
  statuses: {},
  duplicates: [],
  shards: 1,
});

describe('alertsForRun', () => {
  it('one alert per capped/failed host, none for ok or dry-run, one per unstored report', () => {
    const alerts = alertsForRun(
      result([host('a', 'ok'), host('b', 'dry-run'), host('c', 'capped', { cap: { guard: 'max-reap-percent', limit: 2, orphans: 3, labelled: 4 } }), host('d', 'unreachable', { error: 'connect ECONNREFUSED' }), host('e', 'ok', { reportWritten: false }), host('f', 'error', { duplicate: true })]),
    );
    expect(alerts.map((a) => [a.kind, a.hostId, a.status])).toEqual([
      ['host-status', 'c', 'capped'],
      ['host-status', 'd', 'unreachable'],
      ['report-not-stored', 'e', 'ok'],
    ]);
    for (const a of alerts) expect(Object.keys(a).sort()).toEqual(['counts', 'hostId', 'kind', 'message', 'runId', 'status', 'text']);
    expect(alerts[1]!.text).toContain('host d is unreachable');
    expect(alerts[0]!.message).toContain('capped by max-reap-percent (limit 2, 3 orphans of 4 labelled)');
  });

  it('S9: never a key, token or signature', () => {
    const key = 'ab'.repeat(32);
    expect(scrub(`bad key ${key}`)).not.toContain(key);
    expect(scrub('Authorization: Bearer s3cr3t-token')).not.toContain('s3cr3t');
    expect(scrub('signature=Zm9vYmFyYmF6')).not.toContain('Zm9vYmFyYmF6');
    const [alert] = alertsForRun(result([host('x', 'error', { error: `agent said token=${key}` })]));
    expect(JSON.stringify(alert)).not.toContain(key);
  });
});

describe('createAlerter', () => {
  it('retries a failing webhook once, logs it without its URL, and never throws', async () => {
    const log = capturingLogger('warn');
    let calls = 0;
    const alerter = createAlerter({
      settings: { webhookUrl: 'https://hooks.example/SECRET-PATH', failureStreak: 3 },
      logger: log.logger,
      fetch: (() => {
        calls++;
        return Promise.resolve(new Response('no', { status: 500 }));
      }) as typeof fetch,
    });
    const sent = await alerter.afterRun(result([host('d', 'timeout')]), Date.now() + 10_000);
    expect(sent).toHaveLength(1);
    expect(calls).toBe(SINK_ATTEMPTS);
    expect(log.lines.join('\n')).not.toContain('SECRET-PATH');
    expect(log.lines.some((l) => l.includes('alert not delivered'))).toBe(true);
  });

  it('stops at the deadline when the webhook hangs', async () => {
    const log = capturingLogger('warn');
    const alerter = createAlerter({
      settings: { webhookUrl: 'http://127.0.0.1:9/', failureStreak: 3 },
      logger: log.logger,
      fetch: ((_url: string, init: RequestInit) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new Error('aborted'))))) as unknown as typeof fetch,
    });
    const started = Date.now();
    await alerter.afterRun(result([host('d', 'error')]), Date.now() + 1_500);
    expect(Date.now() - started).toBeLessThan(1_200);
  });

  it('publishes to the topic when one is set', async () => {
    const published: string[] = [];
    const alerter = createAlerter({
      settings: { topicArn: 'arn:aws:sns:us-east-1:123456789012:t', failureStreak: 3 },
      logger: capturingLogger('warn').logger,
      publish: (_arn, _subject, message) => {
        published.push(message);
        return Promise.resolve();
      },
    });
    await alerter.afterRun(result([host('c', 'capped'), host('a', 'ok')]), Date.now() + 10_000);
    expect(published.map((m) => (JSON.parse(m) as { hostId: string }).hostId)).toEqual(['c']);
  });

  it('the failure count runs on over failed runs and restarts after any other', () => {
    const counts = (statuses: ReportStatus[]) => {
      let previous: { status: ReportStatus; failures?: number } | undefined;
      return statuses.map((status) => {
        const failures = failureCount(previous, status);
        previous = { status, failures };
        return failures;
      });
    };
    expect(counts(['error', 'unreachable', 'timeout', 'ok', 'refused', 'partial', 'capped', 'dry-run', 'error'])).toEqual([1, 2, 3, 0, 1, 2, 0, 0, 1]);
    // A lastReap written before the count existed: one failure if it failed.
    expect(failureCount({ status: 'error' }, 'timeout')).toBe(2);
    expect(failureCount({ status: 'ok' }, 'timeout')).toBe(1);
  });

  it('the streak alert fires on the Nth failure in a row only', async () => {
    const kinds = async (failureStreak: number | undefined) => {
      const alerter = createAlerter({
        settings: { topicArn: 'arn:aws:sns:us-east-1:123456789012:t', failureStreak: 3 },
        logger: capturingLogger('warn').logger,
        publish: () => Promise.resolve(),
      });
      return (await alerter.afterRun(result([host('d', 'error', failureStreak === undefined ? {} : { failureStreak })]), Date.now() + 10_000)).map((a) => a.kind);
    };
    expect(await kinds(2)).toEqual(['host-status']);
    expect(await kinds(3)).toEqual(['host-status', 'failure-streak']);
    expect(await kinds(4)).toEqual(['host-status']);
    // lastReap not written (the run's deadline): the streak is not known, no streak alert.
    expect(await kinds(undefined)).toEqual(['host-status']);
  });
});

describe('emfLine', () => {
  it('is a CloudWatch EMF document with the run metrics', () => {
    const line = emfLine(result([host('c', 'capped'), host('d', 'error', { reportWritten: false }), host('a', 'ok', { counts: { ...counts!, removed: 2 } })]), { stage: 'dev', timestamp: 1000 });
    const doc = JSON.parse(line) as Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } };
    expect(doc._aws.Timestamp).toBe(1000);
    expect(doc._aws.CloudWatchMetrics[0]!.Namespace).toBe('ClawboxReaper');
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Stage']]);
    expect(doc._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name).sort()).toEqual(['HostsCapped', 'HostsFailing', 'OrphansRemoved', 'ReportsNotStored', 'RunDurationMs']);
    expect(doc).toMatchObject({ Stage: 'dev', OrphansRemoved: 2, HostsCapped: 1, HostsFailing: 1, ReportsNotStored: 1, RunDurationMs: 10 });
  });
});

describe('scrub', () => {
  it('keeps ordinary words', () => {
    expect(scrub('master key unavailable, nothing was sent')).toBe('master key unavailable, nothing was sent');
  });
});
