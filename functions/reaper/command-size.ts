/**
 * A tracked set too large for one command (issue 10, item 7): the agent refuses a body over its
 * limit (413), so a host whose registry outgrew it would fail every run with an opaque refusal.
 * The control plane measures the command before it sends it, and that host gets an `error` report
 * (`tracked_set_too_large`) that says how large, the limit, and how to fix it. Nothing is sent.
 */
import { LIMITS, MAX_COMMAND_BYTES, type ReapRequest } from '../../lib/agent-contract.js';

export const TRACKED_SET_TOO_LARGE = 'tracked_set_too_large';

/** JSON of the largest tracked entry, a quarantine record, or a fleetBudget field: the bound below is never an underestimate. */
const MAX_ENTRY_BYTES = 420;
const FIXED_BYTES = 4096;

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

const HOW_TO_FIX =
  'untrack containers that are gone (the manager untracks after it removes one: DELETE /v1/hosts/:hostId/containers/:containerId, or `clawbox-reaper untrack HOST ID`); ' +
  'tracked items with a lease stop protecting once it has expired and the registry\'s TTL deletes them, so give leases to what the manager tracks';

/** Why this command cannot be sent (the report's message), or undefined when it fits. */
export function commandSizeProblem(request: Omit<ReapRequest, 'fleetBudget'>): string | undefined {
  const items = request.tracked.length;
  const quarantined = request.quarantine?.length ?? 0;
  if (items > LIMITS.trackedItems) {
    return `tracked set too large for one command: ${items} tracked items on this host, more than the ${LIMITS.trackedItems} a command may carry; nothing was sent. To fix: ${HOW_TO_FIX}`;
  }
  // Most commands are far below the limit: measured only when the bound says they might not be.
  if (FIXED_BYTES + (items + quarantined) * MAX_ENTRY_BYTES <= MAX_COMMAND_BYTES) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(request)) + 32;
  if (bytes <= MAX_COMMAND_BYTES) return undefined;
  return (
    `tracked set too large for one command: ${items} tracked items${quarantined ? ` and ${quarantined} quarantine records` : ''} make a ${mib(bytes)} command, ` +
    `more than the ${mib(MAX_COMMAND_BYTES)} an agent accepts (at most ${LIMITS.trackedItems} items); nothing was sent. To fix: ${HOW_TO_FIX}`
  );
}

/** The report's message when an agent refused the command's size (413): its own limit is lower than this command. */
export function bodyLimitProblem(request: Omit<ReapRequest, 'fleetBudget'>): string {
  const bytes = Buffer.byteLength(JSON.stringify(request));
  return (
    `the agent refused the command as too large (413): ${request.tracked.length} tracked items make a ${mib(bytes)} command, more than the agent's body limit; nothing was done. ` +
    `To fix: raise REAPER_AGENT_BODY_LIMIT_BYTES on the agent (up to ${MAX_COMMAND_BYTES}, the largest command the control plane sends), or shrink the tracked set: ${HOW_TO_FIX}`
  );
}
