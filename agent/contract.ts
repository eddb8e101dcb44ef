/**
 * The agent's HTTP contract (v1, SPEC §4): one zod schema per body. The agent validates requests
 * with it; the control plane re-parses responses with it at runtime, since agents across a fleet
 * may run older builds.
 */
import { z } from 'zod';
import { ClawboxId, DockerId, HostId, Instant, RunId } from '../lib/ids.js';

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
} as const;

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
});
export type ReapRequest = z.infer<typeof ReapRequest>;

export const ContainerAction = z.enum(['removed', 'would-remove', 'skipped-young', 'vanished', 'failed']);
export type ContainerAction = z.infer<typeof ContainerAction>;

export const ContainerReport = z.strictObject({
  clawboxId: z.string(),
  dockerId: z.string(),
  state: z.string(),
  createdAt: Instant,
  action: ContainerAction,
  error: z.string().optional(),
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
});
export type ReapCounts = z.infer<typeof ReapCounts>;

export const AgentReapStatus = z.enum(['ok', 'partial', 'capped', 'dry-run']);
export type AgentReapStatus = z.infer<typeof AgentReapStatus>;

export const ReapReport = z.strictObject({
  runId: RunId,
  hostId: HostId,
  status: AgentReapStatus,
  startedAt: Instant,
  finishedAt: Instant,
  durationMs: z.number().min(0),
  dryRun: z.boolean(),
  counts: ReapCounts,
  containers: z.array(ContainerReport),
});
export type ReapReport = z.infer<typeof ReapReport>;

export const ContainerSummary = z.strictObject({
  clawboxId: z.string(),
  dockerId: z.string(),
  state: z.string(),
  createdAt: Instant,
  name: z.string(),
  image: z.string(),
});
export type ContainerSummary = z.infer<typeof ContainerSummary>;

export const ContainerList = z.strictObject({ containers: z.array(ContainerSummary) });
export type ContainerList = z.infer<typeof ContainerList>;

export const Health = z.strictObject({
  ok: z.boolean(),
  docker: z.strictObject({ reachable: z.boolean(), version: z.string().nullable() }),
});
export type Health = z.infer<typeof Health>;

export const ErrorBody = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const AGENT_PATHS = {
  health: '/healthz',
  containers: '/v1/containers',
  reap: '/v1/reap',
  metrics: '/metrics',
} as const;
