/**
 * The orphan decision (S2), pure: an inventory of labelled containers, the tracked set and a
 * cutoff instant in, a plan out. It imports neither Docker nor HTTP so it can be tested
 * exhaustively.
 */
import type { ContainerState, TrackedRef } from '../lib/agent-contract.js';

/** A container that carries the label, as the engine reported it. */
export interface LabelledContainer {
  clawboxId: string;
  dockerId: string;
  state: ContainerState | string;
  /** Docker's own `Created`, in whole unix seconds. */
  createdSeconds: number;
  name: string;
  image: string;
}

export interface ReapPlan {
  tracked: LabelledContainer[];
  young: LabelledContainer[];
  orphans: LabelledContainer[];
}

/**
 * The instant (ms, on the agent's clock) before which a container must have been created to be
 * judged. `clockOffsetMs` is the agent's clock minus the request's timestamp; only a negative
 * offset is applied (a host whose clock runs behind), less a second for the timestamp's
 * truncation to whole seconds, so a skewed clock can only ever widen the grace, never shrink it.
 */
export function cutoffMs(snapshotAtMs: number, graceSeconds: number, clockOffsetMs: number): number {
  const correction = Math.min(0, clockOffsetMs - 1000);
  return snapshotAtMs + correction - graceSeconds * 1000;
}

/** Index of the tracked set: clawbox id → `true` (any container) or the tracked Docker ids. */
type TrackedIndex = Map<string, true | string[]>;

function indexTracked(tracked: readonly TrackedRef[]): TrackedIndex {
  const index: TrackedIndex = new Map();
  for (const ref of tracked) {
    const current = index.get(ref.id);
    if (current === true) continue;
    if (ref.dockerId === undefined) index.set(ref.id, true);
    else index.set(ref.id, [...(current ?? []), ref.dockerId]);
  }
  return index;
}

/** A tracked dockerId may be the full id or a prefix of at least 12 hex digits. */
function sameDockerId(actual: string, tracked: string): boolean {
  return actual === tracked || (tracked.length >= 12 && actual.startsWith(tracked));
}

function isTracked(index: TrackedIndex, container: LabelledContainer): boolean {
  const entry = index.get(container.clawboxId);
  if (entry === undefined) return false;
  if (entry === true) return true;
  // Tracked under another dockerId: this container is a duplicate of the label value (S2).
  return entry.some((dockerId) => sameDockerId(container.dockerId, dockerId));
}

/**
 * Old enough to judge only if created before the cutoff. Docker's `Created` is truncated to whole
 * seconds, so the container may be up to 1 s younger than it says: count it as created at the
 * end of that second.
 */
export function isOldEnough(createdSeconds: number, cutoff: number): boolean {
  return (createdSeconds + 1) * 1000 <= cutoff;
}

export function planReap(inventory: readonly LabelledContainer[], tracked: readonly TrackedRef[], cutoff: number): ReapPlan {
  const index = indexTracked(tracked);
  const plan: ReapPlan = { tracked: [], young: [], orphans: [] };
  for (const container of inventory) {
    if (isTracked(index, container)) plan.tracked.push(container);
    else if (!isOldEnough(container.createdSeconds, cutoff)) plan.young.push(container);
    else plan.orphans.push(container);
  }
  return plan;
}
