/**
 * The quarantine timeline (S11), pure: the orphan plan, the control plane's quarantine records
 * and the snapshot in, what to do with each container out. An orphan is first quarantined
 * (paused if running, left as it is otherwise); only a run at least Q after its quarantine began,
 * when it is still an orphan — the same Docker id under the same label value, still untracked,
 * no live lease — removes it. A quarantined container that is tracked again is restored.
 *
 * `since` and `snapshotAt` are both the control plane's clock, so the agent's clock plays no part.
 */
import type { QuarantineRef } from '../lib/agent-contract.js';
import type { LabelledContainer, ReapPlan } from './orphans.js';

export interface Quarantined {
  container: LabelledContainer;
  /** ms, control plane clock. */
  sinceMs: number;
}

export interface QuarantinePlan {
  /** Orphans to remove in this run; `sinceMs` when they come out of quarantine. */
  remove: Array<{ container: LabelledContainer; sinceMs?: number }>;
  /** Orphans seen for the first time: quarantine them now. */
  quarantine: LabelledContainer[];
  /** In quarantine and not due yet: left as they are. */
  hold: Quarantined[];
  /** In quarantine but tracked again: unpause and let go. */
  restore: Quarantined[];
}

/**
 * @param quarantineSeconds undefined: the v1 behaviour (every orphan is removed at once, records ignored).
 */
export function planQuarantine(
  plan: ReapPlan,
  records: readonly QuarantineRef[] | undefined,
  quarantineSeconds: number | undefined,
  snapshotAtMs: number,
): QuarantinePlan {
  const out: QuarantinePlan = { remove: [], quarantine: [], hold: [], restore: [] };
  if (quarantineSeconds === undefined) {
    out.remove = plan.orphans.map((container) => ({ container }));
    return out;
  }
  const since = quarantineIndex(records);

  const stale = staleRecords(records);
  for (const container of plan.orphans) {
    // A record the container no longer matches (someone unpaused or started it since, e.g. a
    // restore whose record delete was lost) starts a new quarantine rather than count the old one.
    const sinceMs = stale(container) ? undefined : since(container);
    if (sinceMs === undefined) {
      if (quarantineSeconds === 0) out.remove.push({ container });
      else out.quarantine.push(container);
    } else if (snapshotAtMs - sinceMs >= quarantineSeconds * 1000) out.remove.push({ container, sinceMs });
    else out.hold.push({ container, sinceMs });
  }
  for (const container of plan.tracked) {
    const sinceMs = since(container);
    if (sinceMs !== undefined) out.restore.push({ container, sinceMs });
  }
  return out;
}

/**
 * True when the quarantine paused a container that is no longer paused: someone let it run again
 * (a restore, an operator), so its old record no longer describes a frozen orphan.
 */
function staleRecords(records: readonly QuarantineRef[] | undefined): (c: LabelledContainer) => boolean {
  const paused = new Set<string>();
  for (const record of records ?? []) if (record.paused === true) paused.add(`${record.dockerId}\n${record.clawboxId}`);
  return (c) => c.state !== 'paused' && paused.has(`${c.dockerId}\n${c.clawboxId}`);
}

/**
 * When each recorded container's quarantine began (ms), or undefined. A record matches only the
 * same container under the same label value: a new container reusing a label value starts afresh.
 */
export function quarantineIndex(records: readonly QuarantineRef[] | undefined): (c: LabelledContainer) => number | undefined {
  const index = new Map<string, number>();
  for (const record of records ?? []) index.set(`${record.dockerId}\n${record.clawboxId}`, Date.parse(record.since));
  return (c) => index.get(`${c.dockerId}\n${c.clawboxId}`);
}
