/**
 * A reap run across the fleet (SPEC §10): the planner lists the hosts, writes the run's header
 * and splits the hosts into shards (./shards.ts); each shard is run by `runShard`, on AWS in its
 * own asynchronous invocation of the worker function (`dispatch`), locally in this process. A
 * shard sends one command per host, bounded concurrency, one deadline, and ends by writing its
 * shard item: every host's outcome, quiet ones only there (functions/store/run-items.ts).
 *
 * S8 in three parts, per shard: each host's work is isolated (reapHost never throws); every
 * registry read and agent call is abandoned at the work deadline (the Lambda's end minus a margin
 * kept for writing reports); a host whose turn has not come when no agent call may start any more
 * gets a `timeout` report without being contacted, written at once, outside the concurrency
 * limit (a slot may be held until the work deadline, and the report must not wait for it).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { clientsOver, defaultAgentTransport } from '../../lib/agent-transport.js';
import type { Logger } from '../../lib/logger.js';
import type { Store } from '../store/index.js';
import { shardPart, type ShardItem } from '../store/run-items.js';
import type { Host, ReportStatus, Trigger } from '../store/schemas.js';
import { DEFAULT_SHARD_HOSTS, type ReapSettings } from './config.js';
import { bindEngines } from './engine-binding.js';
import { FleetBudget } from './fleet-budget.js';
import { createHostReaper, MIN_CALL_MS, type AgentClientFactory, type HostOutcome, type Prepared, type RunContext } from './host-reap.js';
import type { MasterKeyProvider } from './master-key.js';
import type { Alerter } from './alerts.js';
import { emfLine } from './metrics.js';
import { describe } from './outcome.js';
import { budgetShares, MAX_SHARD_EVENT_BYTES, planShards, type BrokenHost } from './shards.js';

export interface ReaperDeps {
  store: Pick<Store, 'hosts' | 'tracked' | 'reports' | 'quarantine' | 'runs'>;
  masterKey: MasterKeyProvider;
  logger: Logger;
  settings: ReapSettings;
  /** REAPER_REPORT_TTL_DAYS, for the runs table's items; default 90. */
  reportTtlDays?: number;
  /** Builds the signed client for one host; default: lib/agent-client over the process's agent transport (lib/agent-transport.ts). */
  agentClient?: AgentClientFactory;
  /** Epoch ms; drives snapshots, deadlines and request signatures alike. */
  now?: () => number;
  /** For retry jitter. */
  random?: () => number;
  /** Sends the run's alerts after its reports are written (functions/reaper/alerts.ts). */
  alerter?: Alerter;
  /** Receives each shard's EMF metrics line (functions/reaper/metrics.ts); default: none. */
  metrics?: { write: (line: string) => void; stage?: string | undefined };
  /**
   * Sends a shard to a worker (AWS: an asynchronous invocation of the worker function,
   * functions/reaper/dispatch.ts). Absent: the planner runs every shard in this process.
   */
  dispatch?: (shard: ShardRequest) => Promise<void>;
}

/** One shard of a run: what a worker needs, and nothing it would have to read again. */
export interface ShardRequest {
  runId: string;
  startedAt: string;
  trigger: Trigger;
  dryRun: boolean;
  force: boolean;
  /** No quarantine for this run (S11; on-demand only). */
  now: boolean;
  shard: number;
  shards: number;
  /** Hosts the whole run covers. */
  runHosts: number;
  /** This shard's part of the run's fleet budget (S4); undefined: none (dry or forced runs). */
  fleetBudget: number | undefined;
  hosts: Host[];
  broken: BrokenHost[];
  /** Epoch ms by which the shard must have written every report (its Lambda's end). */
  deadlineAt: number;
  /** Every registered host, for the engine binding of unpinned ones (S10); read by the worker when absent. */
  all?: readonly Host[];
  /** Set when the shard could not be dispatched: every host gets this as its `error` report, nothing is sent. */
  notDispatched?: string;
}

export interface RunRequest {
  runId?: string;
  /**
   * The run's start, ISO: the reports' sort key. Given by the event (a scheduled event's time,
   * the API's start of an on-demand run), so that every delivery of one event keys its reports
   * alike and a duplicate writes none (SPEC §10); default now.
   */
  startedAt?: string;
  trigger: Trigger;
  /** Only these hosts (when registered and enabled); default: every enabled host. */
  hosts?: readonly string[];
  dryRun?: boolean;
  /** Lifts the guards (S4); on-demand runs that name their hosts only. */
  force?: boolean;
  /** Removes at once, without quarantine (S11); on-demand runs only. */
  now?: boolean;
  /** Epoch ms by which the run must have written every report (the Lambda's end). */
  deadlineAt: number;
}

export interface SkippedHost {
  hostId: string;
  reason: 'not-registered' | 'disabled';
}

export interface RunResult {
  runId: string;
  trigger: Trigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  dryRun: boolean;
  force: boolean;
  hosts: HostOutcome[];
  /** Requested hosts that were not reaped and got no report. */
  skipped: SkippedHost[];
  /** Of this run's hosts' outcomes, not counting duplicates (hosts already reported by another delivery of the run). */
  statuses: Partial<Record<ReportStatus, number>>;
  /** Hosts whose report another delivery of this run had written: their outcome here is not counted (SPEC §10). */
  duplicates: string[];
  /** Shards the run was split into. */
  shards: number;
  /** True when the shards were sent to workers (AWS): `hosts` is then empty, each worker logs and reports its own. */
  dispatched?: boolean;
}

export class ForceNotAllowedError extends Error {
  override name = 'ForceNotAllowedError';
  constructor(
    message: string,
    readonly code: 'force_not_allowed' | 'force_needs_hosts' = 'force_not_allowed',
  ) {
    super(message);
  }
}

export interface Reaper {
  run(request: RunRequest): Promise<RunResult>;
  /** One shard (a worker's event): its hosts reaped, their reports and its shard item written. */
  runShard(shard: ShardRequest): Promise<RunResult>;
}

/** A host item that does not parse still gets a report (S8); this stand-in is never contacted. */
function brokenHost(hostId: string): Host {
  const at = new Date(0).toISOString();
  return { hostId, agentUrl: 'http://invalid.invalid', enabled: true, createdAt: at, updatedAt: at };
}

export function createReaper(deps: ReaperDeps): Reaper {
  const now = deps.now ?? Date.now;
  const { reapHost, identify } = createHostReaper({
    store: deps.store,
    settings: deps.settings,
    // Keep-alive, TLS session reuse, no redirects, nowhere but the registered URL (SPEC §4).
    agentClient: deps.agentClient ?? clientsOver(defaultAgentTransport()),
    now,
    random: deps.random ?? Math.random,
    logger: deps.logger,
  });

  async function selectHosts(requested: readonly string[] | undefined) {
    // One Scan (all pages) whether or not hosts were named: the reaper's role may Scan, not Get.
    const listing = await deps.store.hosts.list();
    const wanted = requested === undefined ? undefined : new Set(requested);
    const selected = listing.hosts.filter((h) => (wanted ? wanted.has(h.hostId) && h.enabled : h.enabled));
    const skipped: SkippedHost[] = [];
    if (wanted) {
      const known = new Map(listing.hosts.map((h) => [h.hostId, h]));
      const invalidIds = new Set(listing.invalid.map((i) => i.hostId));
      for (const hostId of wanted) {
        const host = known.get(hostId);
        if (host && !host.enabled) skipped.push({ hostId, reason: 'disabled' });
        else if (!host && !invalidIds.has(hostId)) skipped.push({ hostId, reason: 'not-registered' });
      }
    }
    const broken = listing.invalid.flatMap((i) => (i.hostId !== undefined && (!wanted || wanted.has(i.hostId)) ? [{ hostId: i.hostId, problem: i.problem }] : []));
    return { selected, skipped, broken, all: listing.hosts };
  }

  /**
   * Identifies the run's unpinned hosts (in parallel, bounded), decides their binding together,
   * and pins those that may be pinned. A pin that loses a race to another run's is refused too.
   */
  async function bindUnpinned(unpinned: readonly Host[], all: readonly Host[], ctx: RunContext, masterKey: string): Promise<Map<string, Prepared>> {
    const out = new Map<string, Prepared>();
    const limit = pLimit(deps.settings.hostConcurrency);
    const found = await Promise.all(unpinned.map((host) => limit(async () => ({ host, result: await identify(host, ctx, masterKey) }))));
    const reported = new Map<string, string>();
    for (const { host, result } of found) {
      if ('verdict' in result) out.set(host.hostId, { verdict: result.verdict });
      else reported.set(host.hostId, result.identity.engineId);
    }
    const bindings = bindEngines(all, reported);
    await Promise.all(
      found.map(({ host, result }) =>
        limit(async () => {
          if ('verdict' in result) return;
          const binding = bindings.get(host.hostId);
          if (binding === undefined) return;
          const base = { identity: result.identity, measuredOffsetMs: result.measuredOffsetMs };
          if (binding.kind !== 'pin') {
            out.set(host.hostId, { ...base, binding });
            return;
          }
          const seen = { engineId: binding.engineId, clockOffsetMs: result.measuredOffsetMs, attempts: result.attempts };
          try {
            const pinned = await deps.store.hosts.pin(host.hostId, binding.engineId, new Date(now()).toISOString());
            if (pinned === 'pinned') {
              deps.logger.info({ runId: ctx.runId, hostId: host.hostId, engineId: binding.engineId }, 'host pinned to its engine');
              out.set(host.hostId, { ...base, binding });
            } else if (pinned === 'claimed') {
              const message = `engine ${binding.engineId} was pinned to another host first; nothing was touched. Point this host at its own engine, or remove one of the records`;
              out.set(host.hostId, { ...base, binding: { kind: 'refused', code: 'engine_claimed', engineId: binding.engineId, message } });
            } else out.set(host.hostId, { verdict: { ...seen, status: 'error', error: 'the host was deleted during the run; nothing was sent' } });
          } catch (error) {
            out.set(host.hostId, { verdict: { ...seen, status: 'error', error: `could not pin the host's engine, nothing was sent: ${describe(error)}` } });
          }
        }),
      ),
    );
    return out;
  }

  /** Reaps one shard's hosts and writes its shard item; never throws for a host's sake (S8). */
  async function runShard(shard: ShardRequest): Promise<RunResult> {
    const { runId } = shard;
    const startedMs = now();
    const log = deps.logger.child({ runId, trigger: shard.trigger, ...(shard.shards > 1 ? { shard: shard.shard, shards: shard.shards } : {}) });
    const workDeadline = shard.deadlineAt - deps.settings.reportMarginMs;

    let masterKey: string | Error;
    try {
      masterKey = await deps.masterKey();
    } catch (error) {
      masterKey = error instanceof Error ? error : new Error(describe(error));
    }

    const abort = new AbortController();
    // Every host in flight (and every host waiting for the fleet budget) listens for the deadline.
    setMaxListeners(0, abort.signal);
    const timer = setTimeout(() => abort.abort(new Error('run deadline')), Math.max(0, workDeadline - now()));
    const ctx: RunContext = {
      runId,
      trigger: shard.trigger,
      startedAt: shard.startedAt,
      dryRun: shard.dryRun,
      force: shard.force,
      runHosts: shard.runHosts,
      workDeadline,
      deadlineAt: shard.deadlineAt,
      signal: abort.signal,
      masterKey,
      quarantineSeconds: shard.now ? 0 : deps.settings.quarantineSeconds,
      budget: shard.fleetBudget === undefined ? undefined : new FleetBudget(shard.fleetBudget),
      compactQuiet: true,
      ...(shard.notDispatched === undefined ? {} : { notSent: shard.notDispatched }),
    };
    // S10: the shard's unpinned hosts are identified together and pinned (or refused) before any
    // of them gets a command, so two unpinned hosts on one engine are seen together. Pinned
    // hosts do not wait for this: a hung unpinned agent must not hold up the fleet (S8).
    const unpinned = shard.hosts.filter((h) => h.engineId === undefined);
    const binding: Promise<Map<string, Prepared>> =
      typeof masterKey === 'string' && unpinned.length > 0 && shard.notDispatched === undefined
        ? (async () => bindUnpinned(unpinned, shard.all ?? (await deps.store.hosts.list()).hosts, ctx, masterKey))().catch((error: unknown) => {
            const verdict = { status: 'error' as const, error: `could not read the hosts to bind new ones to their engines, nothing was sent: ${describe(error)}`, attempts: 0 };
            return new Map<string, Prepared>(unpinned.map((h) => [h.hostId, { verdict }]));
          })
        : Promise.resolve(new Map<string, Prepared>());
    const limit = pLimit(deps.settings.hostConcurrency);
    const jobs = [
      ...shard.hosts.map((host) => ({ host, ctx })),
      ...shard.broken.map(({ hostId, problem }) => ({ host: brokenHost(hostId), ctx: { ...ctx, masterKey: new Error(`host item is invalid (${problem})`) } })),
    ];
    // Each host is taken once: by its slot in the limiter, or by the cut-off, whichever comes
    // first. The cut-off comes when no agent call may start any more (host-reap's MIN_CALL_MS):
    // the hosts still queued then write their `timeout` reports at once, not slot by slot, and
    // their queued slots, when they come, find them taken and return at once.
    const outcomes = new Array<Promise<HostOutcome>>(jobs.length);
    let untaken = jobs.length;
    let allTaken: () => void = () => undefined;
    const everyHostTaken = new Promise<void>((resolve) => (allTaken = resolve));
    if (untaken === 0) allTaken();
    const take = (i: number, options?: { notReached: true }) => {
      const job = jobs[i];
      if (job === undefined || outcomes[i] !== undefined) return undefined;
      const { host } = job;
      outcomes[i] =
        options?.notReached || host.engineId !== undefined
          ? reapHost(host, job.ctx, options)
          : binding.then((prepared) => reapHost(host, job.ctx, { prepared: prepared.get(host.hostId) }));
      if (--untaken === 0) allTaken();
      return outcomes[i];
    };
    // The slot is held until the host's reapHost settles; its outcome is read from `outcomes`.
    for (const i of jobs.keys()) limit(async () => take(i)).catch(() => undefined);
    const cutOffTimer = setTimeout(
      () => {
        for (const i of jobs.keys()) void take(i, { notReached: true });
      },
      Math.max(0, workDeadline - MIN_CALL_MS - now()),
    );
    let results: HostOutcome[];
    try {
      await everyHostTaken;
      results = await Promise.all(outcomes);
    } finally {
      clearTimeout(timer);
      clearTimeout(cutOffTimer);
    }
    await writeShardItem(shard, results, log);

    const finishedMs = now();
    const result = summarize(shard, results, startedMs, finishedMs);
    logSummary(log, result);
    // After every report is written: neither can delay a report or fail the run.
    if (deps.metrics) {
      try {
        deps.metrics.write(emfLine(result, { stage: deps.metrics.stage, timestamp: finishedMs }));
      } catch (error) {
        log.warn({ error: describe(error) }, 'could not write the run metrics');
      }
    }
    if (deps.alerter) await deps.alerter.afterRun(result, shard.deadlineAt).catch((error: unknown) => log.warn({ error: describe(error) }, 'alerts failed'));
    return result;
  }

  /**
   * The shard item: every host's outcome, quiet ones only here (one write for all of them). Written
   * once per run and shard; a second delivery's is refused and its quiet outcomes not counted.
   */
  async function writeShardItem(shard: ShardRequest, results: HostOutcome[], log: Logger): Promise<void> {
    const quiet: Record<string, string> = {};
    const eventful: Record<string, ReportStatus> = {};
    for (const o of results) {
      if (o.quiet !== undefined) quiet[o.hostId] = o.quiet;
      else eventful[o.hostId] = o.status;
    }
    const item: ShardItem = {
      runId: shard.runId,
      part: shardPart(shard.shard),
      trigger: shard.trigger,
      startedAt: shard.startedAt,
      finishedAt: new Date(now()).toISOString(),
      dryRun: shard.dryRun,
      force: shard.force,
      runHosts: shard.runHosts,
      shard: shard.shard,
      shards: shard.shards,
      quiet,
      eventful,
      expiresAt: Math.floor(now() / 1000) + Math.round((deps.reportTtlDays ?? 90) * 86_400),
    };
    const quietOutcomes = results.filter((o) => o.quiet !== undefined);
    try {
      const written = await deps.store.runs.putShard(item, { deadlineAt: shard.deadlineAt - SHARD_WRITE_MARGIN_MS });
      for (const o of quietOutcomes) {
        if (written) o.reportWritten = true;
        else o.duplicate = true;
      }
      if (!written) log.warn({ quiet: quietOutcomes.length }, 'duplicate delivery: this shard of the run was recorded by another delivery; its quiet outcomes here are not counted');
    } catch (error) {
      // Nothing is lost: the whole item goes to the log, from which it can be written by hand.
      log.error({ err: error, shardItem: item }, 'REPORT NOT STORED: could not write the shard item; every host outcome of the shard is in this line');
    }
  }

  function summarize(shard: Pick<ShardRequest, 'runId' | 'trigger' | 'startedAt' | 'dryRun' | 'force' | 'shards'>, results: HostOutcome[], startedMs: number, finishedMs: number, skipped: SkippedHost[] = []): RunResult {
    const statuses: Partial<Record<ReportStatus, number>> = {};
    for (const o of results) if (!o.duplicate) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    return {
      runId: shard.runId,
      trigger: shard.trigger,
      startedAt: shard.startedAt,
      finishedAt: new Date(finishedMs).toISOString(),
      durationMs: finishedMs - startedMs,
      dryRun: shard.dryRun,
      force: shard.force,
      hosts: results,
      skipped,
      statuses,
      duplicates: results.filter((o) => o.duplicate).map((o) => o.hostId),
      shards: shard.shards,
    };
  }

  return {
    runShard,

    async run(request) {
      const force = request.force ?? false;
      if (force && request.trigger !== 'api') throw new ForceNotAllowedError('force lifts the guards on explicit on-demand runs only (S4)');
      // A forced run over the whole fleet is exactly the mass deletion the guards exist to stop.
      if (force && (request.hosts === undefined || request.hosts.length === 0)) {
        throw new ForceNotAllowedError('force lifts the guards only for hosts named in the run (S4): name them', 'force_needs_hosts');
      }
      if (request.now && request.trigger !== 'api') throw new ForceNotAllowedError('now (no quarantine) is for on-demand runs only (S11)');
      const runId = request.runId ?? randomUUID();
      const dryRun = request.dryRun ?? false;
      const startedMs = now();
      const startedAt = request.startedAt ?? new Date(startedMs).toISOString();
      const log = deps.logger.child({ runId, trigger: request.trigger });

      const { selected, skipped, broken, all } = await selectHosts(request.hosts);
      const plans = planShards(selected, broken, { maxHosts: deps.settings.shardHosts ?? DEFAULT_SHARD_HOSTS, maxBytes: MAX_SHARD_EVENT_BYTES });
      const runHosts = selected.length + broken.length;
      // The header names the run's start, so a report is found by run and host without an index.
      await deps.store.runs
        .putHeader({ runId, part: 'run', trigger: request.trigger, startedAt, dryRun, force, runHosts, shards: plans.length, expiresAt: Math.floor(startedMs / 1000) + Math.round((deps.reportTtlDays ?? 90) * 86_400) })
        .catch((error: unknown) => log.warn({ err: error }, 'could not write the run header; the run goes on (its reports are still found through its shard items)'));
      // Nothing is removed on a dry run; a forced run has its guards lifted for the hosts it names.
      const fleetBudget = dryRun || force ? undefined : deps.settings.fleetMaxReap;
      const budgets = fleetBudget === undefined ? undefined : budgetShares(fleetBudget, plans, runHosts);
      const shards: ShardRequest[] = plans.map((plan, shard) => ({
        runId,
        startedAt,
        trigger: request.trigger,
        dryRun,
        force,
        now: request.now ?? false,
        shard,
        shards: plans.length,
        runHosts,
        fleetBudget: budgets?.[shard],
        hosts: plan.hosts,
        broken: plan.broken,
        deadlineAt: request.deadlineAt,
      }));

      const dispatch = deps.dispatch;
      if (dispatch !== undefined) {
        // Each shard to its own worker; a shard that cannot be sent is reported here, host by host.
        const sending = pLimit(SHARD_DISPATCH_CONCURRENCY);
        const failed = await Promise.all(
          shards.map((s) =>
            sending(async () => {
              try {
                await dispatch(s);
                return undefined;
              } catch (error) {
                return { ...s, notDispatched: `shard ${s.shard + 1} of ${s.shards} could not be sent to a worker, nothing was sent: ${describe(error)}` };
              }
            }),
          ),
        );
        const undelivered = failed.filter((s) => s !== undefined);
        const results = (await Promise.all(undelivered.map((s) => runShard(s)))).flatMap((r) => r.hosts);
        const finishedMs = now();
        log.info({ hosts: runHosts, shards: shards.length, undelivered: undelivered.length, durationMs: finishedMs - startedMs }, 'reap run dispatched');
        return { ...summarize({ runId, trigger: request.trigger, startedAt, dryRun, force, shards: shards.length }, results, startedMs, finishedMs, skipped), dispatched: true };
      }

      // Locally the same shards run in this process, a few at a time (each has its own host limit).
      const running = pLimit(LOCAL_SHARD_CONCURRENCY);
      const results = (await Promise.all(shards.map((s, i) => running(() => runShard({ ...s, ...(i === 0 ? { all } : {}) }))))).flatMap((r) => r.hosts);
      const finishedMs = now();
      const result = summarize({ runId, trigger: request.trigger, startedAt, dryRun, force, shards: shards.length }, results, startedMs, finishedMs, skipped);
      if (shards.length !== 1) logSummary(log, result);
      else if (skipped.length > 0) log.warn({ skipped }, 'requested hosts not reaped');
      return result;
    },
  };
}

/** Shards in flight at once when they run in this process. */
const LOCAL_SHARD_CONCURRENCY = 4;
/** Asynchronous invocations in flight at once while dispatching. */
const SHARD_DISPATCH_CONCURRENCY = 16;
/** Kept before the Lambda's end for the shard item's write. */
const SHARD_WRITE_MARGIN_MS = 50;

const QUIET: ReadonlySet<ReportStatus> = new Set(['ok', 'dry-run']);

/** The run's one log line (S9: ids, statuses and messages only; never keys or signatures). */
function logSummary(log: Logger, result: RunResult): void {
  // A duplicate delivery's outcomes were counted by the delivery that wrote the reports.
  const counted = result.hosts.filter((h) => !h.duplicate);
  const notOk = counted.filter((h) => !QUIET.has(h.status));
  const unwritten = counted.filter((h) => !h.reportWritten).map((h) => h.hostId);
  const totals = { removed: 0, failed: 0, orphans: 0 };
  for (const h of counted) {
    totals.removed += h.counts?.removed ?? 0;
    totals.failed += h.counts?.failed ?? 0;
    totals.orphans += h.counts?.orphans ?? 0;
  }
  const line = {
    hosts: counted.length,
    ...(result.duplicates.length ? { duplicates: result.duplicates.length } : {}),
    statuses: result.statuses,
    ...totals,
    dryRun: result.dryRun,
    force: result.force,
    durationMs: result.durationMs,
    ...(notOk.length ? { problems: notOk.slice(0, 20).map((h) => ({ hostId: h.hostId, status: h.status, error: h.error })) } : {}),
    ...(result.skipped.length ? { skipped: result.skipped } : {}),
    ...(unwritten.length ? { reportsNotWritten: unwritten } : {}),
  };
  if (result.duplicates.length > 0) log.warn({ duplicates: result.duplicates.slice(0, 20) }, 'duplicate delivery: these hosts already had a report for this run; their outcome here is not counted');
  if (unwritten.length) log.error(line, 'reap run finished; some reports could not be written');
  else if (notOk.length) log.warn(line, 'reap run finished with problems');
  else log.info(line, 'reap run finished');
}
