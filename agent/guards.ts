/**
 * The reap guards (S4 and its extension), pure. Each one reads a broken registry or a runaway
 * run as "touch nothing": a count cap per host, a proportional cap (an emptied or mis-keyed
 * registry makes most of a host's containers look orphaned), and the host's share of the run's
 * fleet budget. The first guard that fires is reported, so the operator knows which to lift.
 */
import type { Cap, PercentGuard } from '../lib/agent-contract.js';

export interface GuardInput {
  /** Untracked, old-enough labelled containers (quarantined ones included). */
  orphans: number;
  /** Every labelled container on the engine. */
  labelled: number;
  /** Containers this reap would remove now (after quarantine). */
  removals: number;
}

export interface GuardLimits {
  /** null only on an explicit force. */
  maxReap: number | null;
  percent?: PercentGuard | undefined;
  fleetBudget?: number | undefined;
}

/** The cap that fires, or undefined when the reap may go ahead. */
export function checkGuards(input: GuardInput, limits: GuardLimits): Cap | undefined {
  const { orphans, labelled, removals } = input;
  if (limits.maxReap !== null && orphans > limits.maxReap) return { guard: 'max-reap', limit: limits.maxReap, orphans, labelled };
  if (limits.percent !== undefined) {
    // Integer arithmetic: "more than percent% of labelled" without rounding surprises.
    const { percent, min } = limits.percent;
    if (orphans >= min && orphans * 100 > percent * labelled) {
      return { guard: 'max-reap-percent', limit: Math.floor((percent * labelled) / 100), orphans, labelled };
    }
  }
  if (limits.fleetBudget !== undefined && removals > limits.fleetBudget) return { guard: 'fleet-max-reap', limit: limits.fleetBudget, orphans, labelled, removals };
  return undefined;
}
