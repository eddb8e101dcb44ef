/**
 * The agent's default body limit, sized from the largest legitimate command (issue 10, item 3)
 * rather than picked. The limit bounds what an AUTHENTICATED caller can make the agent buffer: an
 * unauthenticated one gets its 401 before a byte of its body is read, whatever the limit
 * (agent/auth.ts). Override with REAPER_AGENT_BODY_LIMIT_BYTES.
 *
 * The largest command the contract admits (JSON as the control plane writes it, every id at its
 * longest; all their characters are ASCII and none needs escaping, so characters = bytes):
 *
 *   tracked entry     {"id":"<255>","dockerId":"<64 hex>"}                               342 B + 1 comma
 *   quarantine entry  {"clawboxId":"<255>","dockerId":"<64 hex>",
 *                      "since":"2026-11-27T03:15:55.123Z","paused":false}                399 B + 1 comma
 *   everything else   runId (64), hostId (128), snapshotAt, anchor (~120), engineId (256), the
 *                     numbers and flags, the percent guard, the fleet budget: < 2 KiB;   64 KiB allowed
 *
 *   LIMITS.trackedItems × 343 + LIMITS.quarantineEntries × 400 + 64 KiB
 *     = 200,000 × 343 + 20,000 × 400 + 65,536 = 76,665,536 B ≈ 73.1 MiB
 *
 * The control plane never sends a command over MAX_COMMAND_BYTES (16 MiB; a host whose command
 * would be larger gets an `error` report, functions/reaper/command-size.ts), so the largest
 * legitimate command is the smaller of the two: 16 MiB today. Typical commands are far below:
 * 10,000 tracked UUIDs with full Docker ids are ~1.3 MB.
 */
import { LIMITS, MAX_COMMAND_BYTES } from '../lib/agent-contract.js';

const LONGEST_CLAWBOX_ID = 'a'.repeat(255);
const LONGEST_DOCKER_ID = 'f'.repeat(64);

/** The JSON of the largest tracked entry a command may carry (342 bytes). */
export const LARGEST_TRACKED_REF_JSON = JSON.stringify({ id: LONGEST_CLAWBOX_ID, dockerId: LONGEST_DOCKER_ID });
/** The JSON of the largest quarantine entry the control plane writes (399 bytes: `since` is a toISOString()). */
export const LARGEST_QUARANTINE_REF_JSON = JSON.stringify({ clawboxId: LONGEST_CLAWBOX_ID, dockerId: LONGEST_DOCKER_ID, since: '2026-11-27T03:15:55.123Z', paused: false });
/** Every field of a command but its two lists, generously. */
export const COMMAND_OVERHEAD_BYTES = 64 * 1024;

/** The largest command the contract's LIMITS admit (each list entry plus its comma). */
export const LARGEST_COMMAND_BYTES =
  LIMITS.trackedItems * (Buffer.byteLength(LARGEST_TRACKED_REF_JSON) + 1) + LIMITS.quarantineEntries * (Buffer.byteLength(LARGEST_QUARANTINE_REF_JSON) + 1) + COMMAND_OVERHEAD_BYTES;

/** The agent's default body limit: the largest command the control plane may send. */
export const DEFAULT_BODY_LIMIT_BYTES = Math.min(LARGEST_COMMAND_BYTES, MAX_COMMAND_BYTES);
