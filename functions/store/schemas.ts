/**
 * The shapes of the items in the five tables (SPEC §3, S10, S11). Every item read back is parsed with
 * these, never cast: a table may hold items written by an older or newer build, or by hand.
 * Unknown attributes are tolerated on read (forward compatibility); the known ones must hold.
 */
import { z } from 'zod';
import { ContainerReport, ReapCounts, ResourceReport } from '../../lib/agent-contract.js';
import { agentUrlProblem } from '../../lib/agent-url.js';
import { ClawboxId, DockerId, HostId, Instant, RunId } from '../../lib/ids.js';

export const Trigger = z.enum(['schedule', 'api']);
export type Trigger = z.infer<typeof Trigger>;

/** The agent's own statuses, then the control plane's: it never reached a verdict from the agent. */
export const ReportStatus = z.enum(['ok', 'partial', 'capped', 'dry-run', 'error', 'unreachable', 'timeout', 'refused']);
export type ReportStatus = z.infer<typeof ReportStatus>;

/**
 * An agent URL as a host item holds it: read leniently (an item written by hand or by an older
 * build still parses, and still gets its report); the reaper checks every rule of SPEC §4 before
 * each call (functions/reaper/agent-url.ts) and refuses the host (`agent_url_refused`) otherwise.
 */
export const StoredAgentUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(2048)
  // Credentials in the URL would end up in error messages, so in reports and logs (S9).
  .refine((value) => {
    // zod runs this even when the URL check above failed: that failure is reported already.
    if (!URL.canParse(value)) return true;
    const url = new URL(value);
    return url.username === '' && url.password === '';
  }, 'must not contain a user name or password');

/**
 * An agent URL as registered: also no query and no fragment (SPEC §4). Plain http:// off loopback
 * and link-local/metadata addresses are judged with the host's allowances (HostInput).
 */
export const AgentUrl = StoredAgentUrl.refine((value) => !value.includes('?'), 'must not have a query (?…): the agent takes none, and the signed path is exactly the URL path').refine(
  (value) => !value.includes('#'),
  'must not have a fragment (#…)',
);

/** A report whose outcome is still to be asked for: its key, and when its command was last sent. */
export const UnknownRun = z.object({
  runId: RunId,
  /** The run's start: with runId and the host, the report's key. */
  startedAt: Instant,
  /** When the command was last sent (the agent may act on it for a few minutes after). */
  sentAt: Instant,
});
export type UnknownRun = z.infer<typeof UnknownRun>;

export const LastReap = z.object({
  runId: RunId,
  /** When this host's outcome was known. */
  at: Instant,
  status: ReportStatus,
  counts: ReapCounts.nullable(),
  /** The report's error, when it has one (capped like the report's). */
  error: z.string().max(2000).optional(),
  /** Machine-readable reason, e.g. `engine_claimed`, `engine_mismatch` (S10). */
  errorCode: z.string().max(64).optional(),
  /** The agent's clock minus the control plane's, as the agent observed it (S12). */
  clockOffsetMs: z.number().optional(),
  /** `unknown`: no answer, and the agent may have acted; a later run asks it and fills the report in. */
  outcome: z.literal('unknown').optional(),
  /** This host's reports whose outcome is still unknown (newest last; at most 10 written), for a later run to fill in. */
  unknownRuns: z.array(UnknownRun).optional(),
  /**
   * A quiet outcome (functions/store/run-items.ts isQuiet). Quiet runs after a quiet run do not
   * rewrite lastReap (a write a host a minute is most of what a fleet would cost): then `at` and
   * `runId` are those of the first run of the quiet spell, and the runs table has every later one.
   */
  quiet: z.boolean().optional(),
  /** Failed runs in a row up to this one (alerts' failure streak); 0 or absent after a run that did not fail. */
  failures: z.number().int().min(0).optional(),
  /**
   * S4: the removals this host asked for when its share of the fleet budget was too small
   * (capped `fleet-max-reap`); the next run's plan sets that much aside for its shard.
   */
  budgetNeed: z.number().int().min(0).optional(),
});
export type LastReap = z.infer<typeof LastReap>;

/** A Docker engine's identity as the agent reports it (S10). */
export const EngineId = z.string().min(1).max(256);

export const HostItem = z.object({
  hostId: HostId,
  agentUrl: StoredAgentUrl,
  enabled: z.boolean(),
  /** Plain http:// to this host's agent although it is not on loopback (SPEC §4). */
  allowPlainHttp: z.boolean().optional(),
  /** A link-local or cloud metadata address for this host's agent (SPEC §4). */
  allowLinkLocal: z.boolean().optional(),
  /** Per-host override of REAPER_MAX_REAP (S4). Not capped on read: older items may exceed today's input limit. */
  maxReap: z.number().int().min(0).optional(),
  lastReap: LastReap.optional(),
  /** The engine this host is bound to (S10); set on first contact, cleared only by a re-pin. */
  engineId: EngineId.optional(),
  /** When the control plane pinned it. */
  enginePinnedAt: Instant.optional(),
  /**
   * S11: false when the host is known to have no quarantine records, so a run skips reading them
   * (a Query a host a minute). Set true before any record is written; absent: unknown, read them.
   */
  quarantineRecords: z.boolean().optional(),
  createdAt: Instant,
  updatedAt: Instant,
});
export type Host = z.infer<typeof HostItem>;

export const Owner = z.string().min(1).max(256);
/** Leases longer than a year are refused: a lease that never ends is what omitting it means. */
export const MAX_LEASE_SECONDS = 366 * 24 * 3600;

export const TrackedItem = z.object({
  hostId: HostId,
  containerId: ClawboxId,
  dockerId: DockerId.optional(),
  owner: Owner.optional(),
  /** Epoch seconds; once past, the item no longer protects its container. */
  leaseExpiresAt: z.number().int().optional(),
  /**
   * TTL attribute, epoch seconds: DynamoDB deletes the item some time after this. Only on items
   * with a lease, and well after the lease stopped protecting (functions/store/tracked.ts); an
   * item without a lease never expires.
   */
  expiresAt: z.number().int().optional(),
  createdAt: Instant,
  updatedAt: Instant,
});
export type TrackedItem = z.infer<typeof TrackedItem>;

/** The engines table (S10): the one host an engine is bound to. */
export const EngineClaim = z.object({
  engineId: EngineId,
  hostId: HostId,
  pinnedAt: Instant,
});
export type EngineClaim = z.infer<typeof EngineClaim>;

/** The quarantine table (S11): one item per quarantined container, keyed by host and Docker id. */
export const QuarantineEntry = z.object({
  hostId: HostId,
  dockerId: DockerId,
  /** The container's label value. */
  clawboxId: ClawboxId,
  /** When the quarantine began, on the control plane's clock: the snapshotAt of the run that quarantined it. */
  since: Instant,
  /** True when the agent paused it; false when it was stopped and left as it is. */
  paused: z.boolean(),
  updatedAt: Instant,
});
export type QuarantineEntry = z.infer<typeof QuarantineEntry>;

/** The projection readTracked asks for: only what the orphan decision needs. */
export const TrackedProjection = TrackedItem.pick({ containerId: true, dockerId: true, leaseExpiresAt: true });

export const ReportItem = z.object({
  hostId: HostId,
  /** `<startedAt ISO>#<runId>`: a host's reports sort by time. */
  sk: z.string(),
  runId: RunId,
  /** UTC day of `startedAt` (YYYY-MM-DD), the partition of the day-index. */
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  trigger: Trigger,
  status: ReportStatus,
  error: z.string().optional(),
  /** Machine-readable reason for `error`/`refused`, e.g. `engine_claimed`, `engine_mismatch` (S10). */
  errorCode: z.string().max(64).optional(),
  /** The engine the agent reported (S10). */
  engineId: z.string().max(256).optional(),
  /** The agent's clock minus the control plane's (S12). */
  clockOffsetMs: z.number().optional(),
  /** True when |clockOffsetMs| > 5000 (S12). */
  clockFlag: z.boolean().optional(),
  /** Which guard capped the run (S4), its limit, and what it compared. */
  cap: z
    .object({
      guard: z.enum(['max-reap', 'max-reap-percent', 'fleet-max-reap']),
      limit: z.number(),
      orphans: z.number().int().min(0),
      labelled: z.number().int().min(0),
      /** What the guard counted (SPEC §9); absent = containers. */
      kind: z.enum(['containers', 'networks', 'volumes']).optional(),
    })
    .optional(),
  /** The run's start (the same for every host of a run). */
  startedAt: Instant,
  /** Taken before the registry was read (S2); absent when the host was never reached. */
  snapshotAt: Instant.optional(),
  /** When this host's outcome was known. */
  finishedAt: Instant,
  durationMs: z.number().min(0),
  dryRun: z.boolean(),
  force: z.boolean(),
  /** The cap sent to the agent; null when forced; absent when nothing was sent. */
  maxReap: z.number().int().min(0).nullable().optional(),
  /** Tracked ids sent to the agent (after dropping expired leases). */
  trackedSent: z.number().int().min(0).optional(),
  /** Agent calls made (a retry reuses the runId, S6). */
  attempts: z.number().int().min(0),
  /** Hosts the run covers; the run is complete once it has this many host reports. */
  runHosts: z.number().int().min(0).optional(),
  /** The agent's own timing, when it answered. */
  agent: z.object({ startedAt: Instant, finishedAt: Instant, durationMs: z.number().min(0) }).optional(),
  /** Always complete when the agent answered; null when it did not. */
  counts: ReapCounts.nullable(),
  containers: z.array(ContainerReport),
  /** How many entries the agent reported; more than `containers.length` when truncated. */
  containersTotal: z.number().int().min(0),
  truncated: z.boolean(),
  /** Labelled networks and volumes the agent judged (SPEC §9), capped like the containers; absent from older reports. */
  resources: z.array(ResourceReport).optional(),
  /** How many resource entries the agent reported; more than `resources.length` when truncated. */
  resourcesTotal: z.number().int().min(0).optional(),
  /** Why the agent did not judge networks and volumes in this run. */
  resourcesError: z.string().max(2000).optional(),
  /** TTL attribute, epoch seconds. */
  expiresAt: z.number().int(),
  /**
   * `unknown`: the agent's answer was lost and it may have acted (status says how: timeout,
   * unreachable, error); a later run asks the agent and fills the report in. `recovered`: the
   * answer was lost and the agent's report was had afterwards (GET /v1/reaps/:runId). Absent:
   * the answer came back, or nothing was sent.
   */
  outcome: z.enum(['unknown', 'recovered']).optional(),
  /** When the lost outcome was recovered. */
  recoveredAt: Instant.optional(),
  /** The later run that filled this report in; absent when recovered within its own run. */
  recoveredBy: RunId.optional(),
  /** What the report said before its outcome was recovered. */
  lostStatus: ReportStatus.optional(),
  lostError: z.string().optional(),
  /** Rebuilt from a run's shard item (functions/store/run-items.ts): a quiet outcome, never stored as an item of its own. */
  compact: z.literal(true).optional(),
});
export type ReportItem = z.infer<typeof ReportItem>;

/**
 * A report without its per-container list: what listings and run views carry (SPEC §6: every
 * answer fits 6 MB whatever the fleet did). `containersTotal` and `truncated` say how long the
 * list is; the one full item is read on its own.
 */
export const ReportSummary = ReportItem.omit({ containers: true, resources: true });
export type ReportSummary = z.infer<typeof ReportSummary>;

/** What registering a host takes (PUT /v1/hosts/:hostId). */
export const MAX_HOST_MAX_REAP = 10_000;

export const HostInput = z
  .strictObject({
    agentUrl: AgentUrl,
    /** Defaults to true (as in PUT /v1/hosts/:hostId). */
    enabled: z.boolean().default(true),
    /** At most 10,000 (S4 extended). */
    maxReap: z.number().int().min(0).max(MAX_HOST_MAX_REAP).optional(),
    /** Unpins the host's engine (S10): the next run pins whatever engine its agent reports then. */
    repin: z.boolean().optional(),
    /** Allows plain http:// to an agent that is not on loopback (SPEC §4): a network the operator vouches for. */
    allowPlainHttp: z.boolean().optional(),
    /** Allows a link-local or cloud metadata address for the agent (SPEC §4). */
    allowLinkLocal: z.boolean().optional(),
  })
  // Extend with .safeExtend(), which keeps this check (functions/api/contract.ts).
  .superRefine((input, ctx) => {
    // Only a URL that is otherwise valid is judged here (its own problems are reported already).
    if (!AgentUrl.safeParse(input.agentUrl).success) return;
    const problem = agentUrlProblem(input.agentUrl, input);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['agentUrl'], message: problem });
  });
export type HostInput = z.infer<typeof HostInput>;

/** What tracking a container takes (PUT /v1/hosts/:hostId/containers/:containerId). */
export const TrackInput = z.strictObject({
  /** Only this Docker container is protected; another with the same label value is an orphan (S2). */
  dockerId: DockerId.optional(),
  owner: Owner.optional(),
  /** The item stops protecting its container this many seconds from now, unless re-tracked. */
  leaseSeconds: z.number().int().min(1).max(MAX_LEASE_SECONDS).optional(),
});
export type TrackInput = z.infer<typeof TrackInput>;

/** Largest page of tracked items one list call returns. */
export const MAX_PAGE_SIZE = 1000;
/** Largest page of reports one list call returns. */
export const MAX_REPORTS_PAGE = 100;
