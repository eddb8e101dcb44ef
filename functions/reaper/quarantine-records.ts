/**
 * How the quarantine records follow a report (S11), pure: a record for every container the report
 * leaves in quarantine (`quarantinedAt` set, not removed, gone or restored), none for the others.
 * A quarantine begun afresh (a new `since`) or a changed pause state replaces its record.
 */
import type { QuarantineRef, ReapReport } from '../../lib/agent-contract.js';

export interface QuarantineRecordChanges {
  put: Array<{ dockerId: string; clawboxId: string; since: string; paused: boolean }>;
  /** Docker ids whose records go. */
  remove: string[];
}

export function quarantineRecordChanges(before: readonly QuarantineRef[], report: Pick<ReapReport, 'containers'>): QuarantineRecordChanges {
  const existing = new Map(before.map((r) => [r.dockerId, r]));
  const keep = new Set<string>();
  const put: QuarantineRecordChanges['put'] = [];
  for (const c of report.containers) {
    if (c.quarantinedAt === undefined || c.action === 'removed' || c.action === 'vanished' || c.action === 'restored') continue;
    keep.add(c.dockerId);
    const prior = existing.get(c.dockerId);
    if (prior === undefined || prior.since !== c.quarantinedAt || (c.paused !== undefined && prior.paused !== c.paused)) {
      put.push({ dockerId: c.dockerId, clawboxId: c.clawboxId, since: c.quarantinedAt, paused: c.paused ?? prior?.paused ?? false });
    }
  }
  return { put, remove: before.filter((r) => !keep.has(r.dockerId)).map((r) => r.dockerId) };
}
