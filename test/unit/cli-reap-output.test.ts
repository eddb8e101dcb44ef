/**
 * What `clawbox-reaper reap` prints about a run's reports, pure: the summary's optional columns
 * (quarantine counts, clock), and the advice for capped hosts (each guard), engine refusals and
 * clocks off. Reports are built with the store's own builder, as the API serves them.
 */
import { describe, expect, it } from 'vitest';
import type { ReapReport } from '../../lib/agent-contract.js';
import { engineColumn } from '../../cli/admin-commands.js';
import { adviceFor, columnsFor, reportHeaders, reportRow } from '../../cli/reap-command.js';
import { table } from '../../cli/output.js';
import { buildReportItem, type ReportInput } from '../../functions/store/index.js';
import type { ReportItem } from '../../functions/store/schemas.js';

const AT = '2026-03-10T12:00:00.000Z';
const NOW = Date.parse(AT);

function agentReport(hostId: string, over: Partial<ReapReport> = {}): ReapReport {
  return {
    runId: 'run-00000001',
    hostId,
    engineId: 'docker:AAAA:BBBB:CCCC/0123456789abcdef',
    clockOffsetMs: 12,
    status: 'ok',
    startedAt: AT,
    finishedAt: AT,
    durationMs: 40,
    dryRun: false,
    counts: { labelled: 5, tracked: 1, orphans: 4, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0, quarantined: 4, restored: 1 },
    containers: [],
    ...over,
  };
}

function report(input: Partial<ReportInput> & { hostId: string }): ReportItem {
  return buildReportItem({ runId: 'run-00000001', trigger: 'api', status: 'ok', startedAt: AT, finishedAt: AT, durationMs: 40, dryRun: false, force: false, attempts: 1, ...input }, { ttlDays: 90, nowMs: NOW });
}

const capped = (hostId: string, cap: NonNullable<ReapReport['cap']>) =>
  report({ hostId, status: 'capped', maxReap: 100, agentReport: agentReport(hostId, { status: 'capped', cap, counts: { labelled: cap.labelled, tracked: 0, orphans: cap.orphans, young: 0, stopped: 0, removed: 0, vanished: 0, failed: 0 } }) });

describe('the summary table', () => {
  it('adds the quarantine counts only when an agent sent them, and a clock column only when a clock is off', () => {
    const v1 = report({ hostId: 'old', agentReport: agentReport('old', { counts: { labelled: 2, tracked: 1, orphans: 1, young: 0, stopped: 1, removed: 1, vanished: 0, failed: 0 } }) });
    const plain = columnsFor([v1]);
    expect(plain).toEqual({ quarantine: false, clock: false });
    expect(reportHeaders(plain)).toEqual(['HOST', 'STATUS', 'LABELLED', 'TRACKED', 'ORPHANS', 'YOUNG', 'REMOVED', 'FAILED', 'TIME', 'ERROR']);
    expect(reportRow(v1, plain)).toEqual(['old', 'ok', 2, 1, 1, 0, 1, 0, '0.0s', undefined]);

    const lagging = report({ hostId: 'lagging', clockOffsetMs: -7_250, agentReport: agentReport('lagging') });
    const both = columnsFor([v1, lagging]);
    expect(both).toEqual({ quarantine: true, clock: true });
    const text = table(reportHeaders(both), [v1, lagging].map((r) => reportRow(r, both)));
    expect(text).toMatch(/^HOST\s+STATUS\s+LABELLED\s+TRACKED\s+ORPHANS\s+YOUNG\s+REMOVED\s+FAILED\s+QUARANTINED\s+RESTORED\s+TIME\s+CLOCK\s+ERROR\n/);
    expect(text).toMatch(/\nold\s+ok\s+2\s+1\s+1\s+0\s+1\s+0\s+-\s+-\s+0\.0s\s+ok\s+-\n/);
    expect(text).toMatch(/\nlagging\s+ok\s+5\s+1\s+4\s+0\s+0\s+0\s+4\s+1\s+0\.0s\s+! -7\.3s\s+-\n$/);
  });
});

describe('advice after a run', () => {
  it('names the guard that capped a host, what it compared, and the next step for each guard', () => {
    const count = adviceFor(capped('h1', { guard: 'max-reap', limit: 10, orphans: 30, labelled: 31 }), 'https://h1.internal:8788').join('\n');
    expect(count).toContain('h1: capped by max-reap: 30 orphans of 31 labelled, more than the limit of 10; nothing was touched.');
    expect(count).toContain('`clawbox-reaper hosts containers h1`');
    expect(count).toContain('`clawbox-reaper reap --host h1 --force`');
    expect(count).toContain('`clawbox-reaper hosts add h1 --url https://h1.internal:8788 --max-reap N`');

    const percent = adviceFor(capped('h2', { guard: 'max-reap-percent', limit: 2, orphans: 4, labelled: 5 })).join('\n');
    expect(percent).toContain('h2: capped by max-reap-percent: 4 of 5 labelled containers are orphans, more than the 2 allowed');
    expect(percent).toContain('emptied or written under the wrong host id: check `clawbox-reaper hosts containers h2`');
    expect(percent).toContain('`clawbox-reaper reap --host h2 --force`, or raise REAPER_MAX_REAP_PERCENT');

    const fleet = adviceFor(capped('h3', { guard: 'fleet-max-reap', limit: 0, orphans: 7, labelled: 9 })).join('\n');
    expect(fleet).toContain('h3: capped by fleet-max-reap: the run hit REAPER_FLEET_MAX_REAP');
    expect(fleet).toContain('Reap the remaining hosts by name (`clawbox-reaper reap --host h3`), or raise REAPER_FLEET_MAX_REAP');

    // A capped report from an agent that does not say which guard fired.
    const old = report({ hostId: 'h4', status: 'capped', maxReap: 3, agentReport: agentReport('h4', { status: 'capped' }) });
    expect(adviceFor(old)[0]).toBe('h4: capped: 4 orphans > max reap 3; nothing was touched.');
  });

  it('prints an engine refusal\'s error, with the repin hint for a mismatch, and nothing for other hosts', () => {
    const claimed = report({ hostId: 'h5', status: 'refused', errorCode: 'engine_claimed', error: 'engine X is pinned to host h1; nothing was touched' });
    expect(adviceFor(claimed)).toEqual(['h5: refused (engine_claimed): engine X is pinned to host h1; nothing was touched']);
    const mismatch = report({ hostId: 'h6', status: 'refused', errorCode: 'engine_mismatch', error: 'the agent reports engine Y, but this host is pinned to X' });
    expect(adviceFor(mismatch)).toEqual([
      'h6: refused (engine_mismatch): the agent reports engine Y, but this host is pinned to X',
      '  If the engine was replaced on purpose, re-pin the host: `clawbox-reaper hosts repin h6`.',
    ]);
    expect(adviceFor(report({ hostId: 'h7', status: 'refused', errorCode: 'bad_signature', error: 'signature refused' }))).toEqual([]);
    expect(adviceFor(report({ hostId: 'h8', agentReport: agentReport('h8') }))).toEqual([]);
  });

  it('warns of a clock off by more than 5 s', () => {
    const ahead = report({ hostId: 'h9', clockOffsetMs: 9_000, agentReport: agentReport('h9') });
    expect(adviceFor(ahead)).toEqual(["h9: warning: the agent's clock is +9.0s off the control plane's (more than 5 s): check its time sync (NTP)."]);
  });
});

describe('the hosts listing', () => {
  it('shows an engine by both ends of its id, or unpinned', () => {
    expect(engineColumn(undefined)).toBe('unpinned');
    expect(engineColumn('podman:abc')).toBe('podman:abc');
    const a = 'docker:D2IP:BKSV:GZ7Y:3ESY:Q2DE:O6FP:5BOR:CTL2:SACM:DKX2:H6B4:POWC/2fc0d74d1b861a67';
    const b = 'docker:D2IP:BKSV:GZ7Y:3ESY:Q2DE:O6FP:5BOR:CTL2:SACM:DKX2:H6B4:POWC/b840715ad919f249';
    expect(engineColumn(a)).toBe('docker:D2IP:…1b861a67');
    expect(engineColumn(a)).not.toBe(engineColumn(b));
  });
});
