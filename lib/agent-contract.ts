/**
 * The agent's HTTP contract (v1, SPEC §4): one zod schema per body. The agent validates requests
 * with it; the control plane re-parses responses with it at runtime, since agents across a fleet
 * may run older builds.
 */
import { z } from 'zod';
import { ClawboxId, DockerId, HostId, Instant, RunId } from './ids.js';

export const ContainerState = z.enum(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);
export type ContainerState = z.infer<typeof ContainerState>;

export const TrackedRef = z.strictObject({
  id: ClawboxId,
  /** When set, only this Docker container is the tracked one (S2). */
  dockerId: DockerId.optional(),
});
export type TrackedRef = z.infer<typeof TrackedRef>;

/** Upper bounds keep a single command's work bounded; the control plane never gets near them. */
export const LIMITS = {
  trackedItems: 200_000,
  graceSeconds: 30 * 24 * 3600,
  stopTimeoutSeconds: 300,
  maxReap: 1_000_000,
  quarantineSeconds: 30 * 24 * 3600,
  /** Quarantine entries one command may carry; more than the largest cap a host may have. */
  quarantineEntries: 20_000,
} as const;

/**
 * The largest command body (bytes) the control plane sends, and the agent's default body limit:
 * a command over it is not sent; its host gets an `error` report (`tracked_set_too_large`).
 */
export const MAX_COMMAND_BYTES = 16 * 1024 * 1024;

/** An engine's identity (S10): Docker's /info ID, or one derived from the engine's own data. */
export const EngineId = z.string().min(1).max(256);

/**
 * A time anchor the agent issued (GET /v1/identity) and signed with its own key: its clock's
 * reading when the control plane asked, before it took its snapshot. The agent judges age against
 * it on its own clock, so neither clock lag nor delivery delay can shrink the grace (S2, S12).
 */
export const Anchor = z.string().regex(/^v1\.\d{1,15}\.\d{1,15}\.[0-9a-f]{16}\.[0-9a-f]{64}$/, 'must be an anchor from GET /v1/identity');

/** The proportional guard (S4 extended): capped when orphans > percent% of labelled and ≥ min. */
export const PercentGuard = z.strictObject({
  percent: z.number().int().min(1).max(100),
  min: z.number().int().min(0).max(LIMITS.maxReap),
});
export type PercentGuard = z.infer<typeof PercentGuard>;

/** A container the control plane holds in quarantine on this host (S11). */
export const QuarantineRef = z.strictObject({
  clawboxId: ClawboxId,
  dockerId: DockerId,
  /** When its quarantine began, on the control plane's clock (the snapshotAt of that run). */
  since: Instant,
  /** The quarantine paused it (true) or left it stopped (false); absent: not known. */
  paused: z.boolean().optional(),
});
export type QuarantineRef = z.infer<typeof QuarantineRef>;

export const ReapRequest = z.strictObject({
  runId: RunId,
  hostId: HostId,
  tracked: z.array(TrackedRef).max(LIMITS.trackedItems),
  /** Taken by the control plane before it read the registry (S2). */
  snapshotAt: Instant,
  graceSeconds: z.number().int().min(0).max(LIMITS.graceSeconds),
  stopTimeoutSeconds: z.number().int().min(0).max(LIMITS.stopTimeoutSeconds),
  /** More orphans than this: nothing is touched (S4). `null` only on an explicit force. */
  maxReap: z.number().int().min(0).max(LIMITS.maxReap).nullable(),
  dryRun: z.boolean(),
  /** From GET /v1/identity, fetched before snapshotAt was taken: the agent's cutoff is anchorMs − grace. */
  anchor: Anchor,
  /** The engine the control plane pinned for this host (S10): another engine answers 409 engine_mismatch. */
  engineId: EngineId.optional(),
  /** S4 extended; absent = no proportional guard. */
  maxReapPercent: PercentGuard.optional(),
  /** This host's share of the run's fleet budget (S4): more removals than this and nothing is touched. */
  fleetBudget: z.number().int().min(0).max(LIMITS.maxReap).optional(),
  /** S11; absent = v1 (remove at once). 0 = remove at once, and restore tracked quarantined ones. */
  quarantineSeconds: z.number().int().min(0).max(LIMITS.quarantineSeconds).optional(),
  /** The containers in quarantine on this host, as the control plane recorded them. */
  quarantine: z.array(QuarantineRef).max(LIMITS.quarantineEntries).optional(),
});
export type ReapRequest = z.infer<typeof ReapRequest>;

export const ContainerAction = z.enum([
  'removed',
  'would-remove',
  'skipped-young',
  'vanished',
  'failed',
  'quarantined',
  'would-quarantine',
  'restored',
  'would-restore',
]);
export type ContainerAction = z.infer<typeof ContainerAction>;

/** The longest log tail a forensic record keeps, in UTF-8 bytes after redaction (SPEC §9). */
export const RECORD_LOG_BYTES = 4096;

/**
 * What the agent kept of an orphan just before removing it (SPEC §9), with secrets redacted
 * (agent/redact.ts): the environment is never copied, and anything that looks like a key, token
 * or password is masked. Every field but `image` and `command` is optional: a record is taken
 * on a best-effort basis and never holds up a removal; `note` says what is missing and why.
 */
export const ForensicRecord = z.strictObject({
  image: z.string().max(1024),
  /** The process as started (entrypoint and arguments), redacted. */
  command: z.array(z.string().max(4096)).max(256),
  createdAt: Instant.optional(),
  startedAt: Instant.optional(),
  finishedAt: Instant.optional(),
  exitCode: z.number().int().optional(),
  restartCount: z.number().int().min(0).optional(),
  /** The last lines of its logs (both streams, in order), redacted, at most RECORD_LOG_BYTES bytes. */
  logs: z
    .string()
    .refine((text) => Buffer.byteLength(text) <= RECORD_LOG_BYTES, `at most ${RECORD_LOG_BYTES} bytes`)
    .optional(),
  /** Older lines were left out. */
  logsTruncated: z.boolean().optional(),
  /** What could not be recorded, and why (e.g. the engine did not answer in time). */
  note: z.string().max(1000).optional(),
});
export type ForensicRecord = z.infer<typeof ForensicRecord>;

export const ContainerReport = z.strictObject({
  clawboxId: z.string(),
  dockerId: z.string(),
  state: z.string(),
  createdAt: Instant,
  action: ContainerAction,
  error: z.string().optional(),
  /** In quarantine since (control plane clock); on quarantined entries and on due ones whose removal failed. */
  quarantinedAt: Instant.optional(),
  /** The first run at or after this instant removes it, if it is still an orphan then. */
  removeAfter: Instant.optional(),
  /** The agent paused it (S11); false when it was left as it was (not running). */
  paused: z.boolean().optional(),
  /** Taken just before its removal (removed, vanished and failed entries of a real reap). */
  record: ForensicRecord.optional(),
});
export type ContainerReport = z.infer<typeof ContainerReport>;

export const ReapCounts = z.strictObject({
  labelled: z.number().int().min(0),
  tracked: z.number().int().min(0),
  orphans: z.number().int().min(0),
  young: z.number().int().min(0),
  stopped: z.number().int().min(0),
  removed: z.number().int().min(0),
  vanished: z.number().int().min(0),
  failed: z.number().int().min(0),
  /** In quarantine after this run (S11): newly paused or left, plus those still waiting. Absent in v1 reports. */
  quarantined: z.number().int().min(0).optional(),
  /** Quarantined containers tracked again and unpaused (S11). */
  restored: z.number().int().min(0).optional(),
  /**
   * Labelled networks and volumes removed (SPEC §9), and removals of either that failed. Present
   * when the engine holds any labelled network or volume; absent from older agents' reports.
   */
  networksRemoved: z.number().int().min(0).optional(),
  volumesRemoved: z.number().int().min(0).optional(),
  resourcesFailed: z.number().int().min(0).optional(),
});
export type ReapCounts = z.infer<typeof ReapCounts>;

export const AgentReapStatus = z.enum(['ok', 'partial', 'capped', 'dry-run']);
export type AgentReapStatus = z.infer<typeof AgentReapStatus>;

/** Which guard capped a reap (S4): nothing was touched. */
export const CapGuard = z.enum(['max-reap', 'max-reap-percent', 'fleet-max-reap']);
export type CapGuard = z.infer<typeof CapGuard>;

export const Cap = z.strictObject({
  guard: CapGuard,
  /** The guard's limit: a count, or for max-reap-percent the largest count allowed. */
  limit: z.number().int().min(0),
  orphans: z.number().int().min(0),
  labelled: z.number().int().min(0),
  /** What the reap would have removed now (after quarantine): with fleet-max-reap, the grant it needs. */
  removals: z.number().int().min(0).optional(),
  /** What the guard counted (SPEC §9: each kind is judged on its own); absent = containers. */
  kind: z.enum(['containers', 'networks', 'volumes']).optional(),
});
export type Cap = z.infer<typeof Cap>;

export const ResourceKind = z.enum(['network', 'volume']);
export type ResourceKind = z.infer<typeof ResourceKind>;

/**
 * What became of a labelled network or volume whose label value is not tracked (SPEC §9).
 * `in-use`: some container (labelled or not, in any state) still uses it, so it stays.
 */
export const ResourceAction = z.enum(['removed', 'would-remove', 'skipped-young', 'in-use', 'vanished', 'failed']);
export type ResourceAction = z.infer<typeof ResourceAction>;

export const ResourceReport = z.strictObject({
  kind: ResourceKind,
  name: z.string(),
  /** A network's id; volumes have only their name. */
  id: z.string().optional(),
  clawboxId: z.string(),
  /** Absent when the engine did not say: such a resource is judged young, never removed on a guess. */
  createdAt: Instant.optional(),
  action: ResourceAction,
  error: z.string().optional(),
});
export type ResourceReport = z.infer<typeof ResourceReport>;

/** On every signed answer: the engine behind this agent, and its clock minus the request's timestamp (S10, S12). */
const Signed = {
  engineId: EngineId,
  clockOffsetMs: z.number(),
};

export const ReapReport = z.strictObject({
  runId: RunId,
  hostId: HostId,
  ...Signed,
  status: AgentReapStatus,
  /** Present when status is capped. */
  cap: Cap.optional(),
  startedAt: Instant,
  finishedAt: Instant,
  durationMs: z.number().min(0),
  dryRun: z.boolean(),
  counts: ReapCounts,
  containers: z.array(ContainerReport),
  /** Labelled networks and volumes not tracked (SPEC §9); present when the engine holds any labelled one. */
  resources: z.array(ResourceReport).optional(),
  /** Why networks and volumes were not judged in this reap (their listing failed); nothing of them was touched. */
  resourcesError: z.string().optional(),
});
export type ReapReport = z.infer<typeof ReapReport>;

/** GET /v1/reaps/:runId while that run is in flight (202). */
export const ReapRunning = z.strictObject({ runId: RunId, status: z.literal('running') });
export type ReapRunning = z.infer<typeof ReapRunning>;

/** GET /v1/reaps/:runId: the run's report exactly as POST /v1/reap answered it (200), or running (202). */
export const ReapResult = z.union([ReapReport, ReapRunning]);
export type ReapResult = z.infer<typeof ReapResult>;

export const ContainerSummary = z.strictObject({
  clawboxId: z.string(),
  dockerId: z.string(),
  state: z.string(),
  createdAt: Instant,
  name: z.string(),
  image: z.string(),
});
export type ContainerSummary = z.infer<typeof ContainerSummary>;

export const ContainerList = z.strictObject({ ...Signed, containers: z.array(ContainerSummary) });
export type ContainerList = z.infer<typeof ContainerList>;

export const Health = z.strictObject({
  ok: z.boolean(),
  docker: z.strictObject({ reachable: z.boolean(), version: z.string().nullable() }),
});
export type Health = z.infer<typeof Health>;

/** GET /v1/identity: the engine, the agent's clock, and a fresh anchor for the next command. */
export const Identity = z.strictObject({
  hostId: HostId,
  ...Signed,
  /** The agent's clock, ms since the epoch. */
  agentTimeMs: z.number(),
  anchor: Anchor,
});
export type Identity = z.infer<typeof Identity>;

/**
 * POST /v1/restore: unpause the quarantined container(s) with this label value (S11). Only a
 * labelled container whose Docker id the control plane holds in quarantine, and that is paused,
 * is touched; the body names no container to act on other than through its label value.
 */
export const RestoreRequest = z.strictObject({
  hostId: HostId,
  engineId: EngineId.optional(),
  clawboxId: ClawboxId,
  dockerIds: z.array(DockerId).min(1).max(100),
});
export type RestoreRequest = z.infer<typeof RestoreRequest>;

export const RestoreResult = z.strictObject({
  hostId: HostId,
  ...Signed,
  containers: z.array(
    z.strictObject({
      dockerId: z.string(),
      /** unpaused: it was paused and runs again; not-paused: left as it was; gone: not on this engine. */
      outcome: z.enum(['unpaused', 'not-paused', 'gone']),
      error: z.string().optional(),
    }),
  ),
});
export type RestoreResult = z.infer<typeof RestoreResult>;

export const ErrorBody = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const AGENT_PATHS = {
  health: '/healthz',
  containers: '/v1/containers',
  reap: '/v1/reap',
  identity: '/v1/identity',
  restore: '/v1/restore',
  metrics: '/metrics',
  /** GET: a run's outcome (the route; reapResultPath(runId) is a request's path). */
  reapResult: '/v1/reaps/:runId',
} as const;

export const reapResultPath = (runId: string) => `/v1/reaps/${encodeURIComponent(runId)}`;
