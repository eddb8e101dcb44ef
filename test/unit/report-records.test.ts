/**
 * Forensic records and networks/volumes in a stored report (SPEC §9): the item keeps them within
 * its size budget and passes the store's schema, and the report page shows them, escaped.
 */
import { describe, expect, it } from 'vitest';
import { ReportPage } from '../../functions/dashboard/pages/report.js';
import { LOGS_LEFT_OUT, REPORT_LIMITS, buildReportItem, capContainers } from '../../functions/store/report-item.js';
import { ReportItem, ReportSummary } from '../../functions/store/schemas.js';
import { ReapReport, type ContainerReport } from '../../lib/agent-contract.js';

const NOW = Date.parse('2026-03-10T12:34:56Z');
const at = new Date(NOW - 60_000).toISOString();

function removed(i: number, logs: string): ContainerReport {
  return {
    clawboxId: `c-${i}`,
    dockerId: i.toString(16).padStart(64, '0'),
    state: 'exited',
    createdAt: at,
    action: 'removed',
    record: { image: 'busybox', command: ['sh', '-c', 'echo hi'], createdAt: at, startedAt: at, finishedAt: at, exitCode: 3, restartCount: 0, logs, logsTruncated: true },
  };
}

function agentReport(containers: ContainerReport[], extra: Partial<ReapReport> = {}): ReapReport {
  return ReapReport.parse({
    runId: 'run-00000001', hostId: 'h-1', engineId: 'e', clockOffsetMs: 0, status: 'ok', startedAt: at, finishedAt: at, durationMs: 5, dryRun: false,
    counts: { labelled: containers.length, tracked: 0, orphans: containers.length, young: 0, stopped: 0, removed: containers.length, vanished: 0, failed: 0, networksRemoved: 1, volumesRemoved: 0, resourcesFailed: 0 },
    containers,
    ...extra,
  });
}

const item = (agent: ReapReport) =>
  buildReportItem({ hostId: 'h-1', runId: 'run-00000001', trigger: 'api', status: 'ok', startedAt: at, finishedAt: at, durationMs: 5, dryRun: false, force: false, attempts: 1, agentReport: agent }, { ttlDays: 90, nowMs: NOW });

describe('a stored report with records and resources', () => {
  it('keeps log tails within their own budget; later entries keep their record without logs', () => {
    const logs = 'x'.repeat(4000);
    const { containers, truncated } = capContainers(Array.from({ length: 40 }, (_, i) => removed(i, logs)));
    expect(truncated).toBe(false);
    const withLogs = containers.filter((c) => c.record?.logs !== undefined);
    expect(withLogs.length).toBe(Math.floor(REPORT_LIMITS.maxRecordLogBytes / 4000));
    const without = containers.find((c) => c.record?.logs === undefined);
    expect(without?.record).toMatchObject({ exitCode: 3, note: LOGS_LEFT_OUT });
    expect(without?.record?.logsTruncated).toBeUndefined();
  });

  it('passes the store schema, keeps resources out of summaries, and stays far below 400 KB at the worst', () => {
    const resources = Array.from({ length: 2000 }, (_, i) => ({ kind: 'volume' as const, name: `v-${i}-${'n'.repeat(200)}`, clawboxId: `c-${i}`, createdAt: at, action: 'in-use' as const }));
    const containers = Array.from({ length: 1500 }, (_, i) => ({ ...removed(i, 'y'.repeat(4096)), record: { ...removed(i, 'y'.repeat(4096)).record!, command: ['z'.repeat(4096)] } }));
    const stored = ReportItem.parse(item(agentReport(containers, { resources: [{ kind: 'network', name: 'n-1', id: 'f'.repeat(64), clawboxId: 'c-x', action: 'removed' }, ...resources] })));
    expect(stored.truncated).toBe(true);
    expect(stored.resourcesTotal).toBe(2001);
    expect(stored.resources?.[0]).toMatchObject({ kind: 'network', action: 'removed' });
    expect(stored.counts?.networksRemoved).toBe(1);
    expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThan(320_000);
    expect('resources' in ReportSummary.parse(stored)).toBe(false);
  });

  it('an older agent\'s report (no records, no resources) is stored as before', () => {
    const old = item(agentReport([{ clawboxId: 'c', dockerId: 'd', state: 'exited', createdAt: at, action: 'removed' }]));
    expect(old.resources).toBeUndefined();
    expect(ReportItem.parse(old).containers[0]?.record).toBeUndefined();
  });

  it('the report page shows each record folded, its logs escaped, and the networks and volumes', async () => {
    const report = item(
      agentReport([removed(1, 'hello\n<script>alert(1)</script>\npassword=[REDACTED]\n')], {
        resources: [
          { kind: 'network', name: 'net-<b>1</b>', id: 'abc', clawboxId: 'c-9', createdAt: at, action: 'removed' },
          { kind: 'volume', name: 'vol-2', clawboxId: 'c-8', action: 'skipped-young' },
        ],
      }),
    );
    const html = String(await ReportPage({ report, range: '24h', nowMs: NOW, signedIn: false }));
    expect(html).toContain('<tr class="record" data-record="c-1">');
    expect(html).toContain('<summary>forensic record of c-1</summary>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toMatch(/data-field="exit-code">3</);
    expect(html).toContain('(older lines left out)');
    expect(html).toContain('data-resource="network:net-&lt;b&gt;1&lt;/b&gt;"');
    expect(html).toContain('not known (judged young)');
    expect(html).toMatch(/<td class="n" data-count="networksRemoved">1<\/td>/);
  });
});
