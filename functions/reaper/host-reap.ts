/**
 * One host's part of a run, start to finish: snapshot, registry read, signed command (with
 * retries), report, lastReap. It never throws: whatever happens becomes this host's report (S8).
 */
import type { Identity, QuarantineRef, ReapReport, ReapRequest } from '../../lib/agent-contract.js';
import { AgentCallError, type AgentClient, type AgentClientOptions } from '../../lib/agent-client.js';

/** The agent's error code, when it gave one. */
function codeOf(error: unknown): { errorCode?: string } {
  return error instanceof AgentCallError && error.code !== undefined && error.code !== 'unknown' ? { errorCode: error.code } : {};
}
/** The host's report when its agent URL breaks the rules (functions/reaper/agent-url.ts): nothing is sent. */
function refusedUrl(host: Host): Verdict | undefined {
  const error = checkAgentUrl(host);
  return error === undefined ? undefined : { status: 'refused', errorCode: AGENT_URL_REFUSED, error, attempts: 0 };
}
import { withBackoff } from '../../lib/backoff.js';
import type { Logger } from '../../lib/logger.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import { DuplicateReportError, isQuiet, quietEntry, type Store } from '../store/index.js';
import { failureCount } from './alerts.js';
import type { ReportInput } from '../store/report-item.js';
import type { Host, ReportStatus, Trigger } from '../store/schemas.js';
import type { ReapSettings } from './config.js';
import { checkPinned, type Binding } from './engine-binding.js';
import type { FleetBudget } from './fleet-budget.js';
import { describe, failureStatus } from './outcome.js';
import { quarantineRecordChanges } from './quarantine-records.js';
import { AGENT_URL_REFUSED, checkAgentUrl } from './agent-url.js';
import { bodyLimitProblem, commandSizeProblem, TRACKED_SET_TOO_LARGE } from './command-size.js';
import { FILL_IN_TIMEOUT_MS, fillInUnknown, MAX_UNKNOWN_RUNS, sendWithRecovery, type PendingRun } from './recover.js';

/** No agent call is started with less time than this before the work deadline. */
export const MIN_CALL_MS = 500;

/**
 * Kept before the Lambda's end for what follows a report write: a write still pending then is
 * abandoned and the report logged (REPORT NOT STORED), and the run's summary is logged.
 */
export const FINISH_MS = 250;

const NOT_REACHED = 'not reached before the run deadline; nothing was sent';

/** What the run's engine-binding step learnt of an unpinned host before its turn (S10). */
export type Prepared =
  | { identity: Identity; measuredOffsetMs: number; binding: Binding }
  /** The identity call failed, or pinning did: this is the host's report. */
  | { verdict: Verdict };

/** How reapHost is asked to treat a host. */
export interface ReapHostOptions {
  /** The host's turn never came before the work deadline: report `timeout` without contacting anyone. */
  notReached?: boolean;
  prepared?: Prepared | undefined;
}

export interface HostOutcome {
  hostId: string;
  status: ReportStatus;
  error?: string;
  errorCode?: string;
  /** Which guard capped the host (S4). */
  cap?: ReapReport['cap'];
  attempts: number;
  durationMs: number;
  counts: ReapReport['counts'] | null;
  /** False when even the report could not be written (logged in the run's summary). */
  reportWritten: boolean;
  /** `unknown`: the agent may have acted, its report was not had; `recovered`: had after the answer was lost. */
  outcome?: 'unknown' | 'recovered';
  /** Another delivery of this run had written this host's report: this outcome was not written, nor counted (SPEC §10). */
  duplicate?: boolean;
  /** A quiet outcome (functions/store/run-items.ts): no report item; the shard item records this entry. */
  quiet?: string;
  /** Failed runs in a row up to this one, when lastReap was written (alerts' failure streak). */
  failureStreak?: number;
}

export type AgentClientFactory = (options: AgentClientOptions) => AgentClient;

export interface RunContext {
  runId: string;
  trigger: Trigger;
  /** The run's start, ISO (the reports' sort key). */
  startedAt: string;
  dryRun: boolean;
  force: boolean;
  /** Hosts this run covers: with it, a reader of the reports knows when the run is complete. */
  runHosts: number;
  /** Epoch ms after which no agent call may still be running. */
  workDeadline: number;
  /** Epoch ms the Lambda ends at; report writes stop retrying before it. */
  deadlineAt: number;
  /** Fires at the work deadline: every registry read and agent call in flight is abandoned. */
  signal: AbortSignal;
  /** The master key, or why it could not be had. */
  masterKey: string | Error;
  /** S11 for this run: the setting, or 0 for an explicit `now`. */
  quarantineSeconds: number;
  /** S4: the run's fleet budget; undefined on dry runs and forced runs (nothing to bound, or lifted). */
  budget: FleetBudget | undefined;
  /** Quiet outcomes are left to the shard item (functions/reaper/run.ts) instead of a report item each. */
  compactQuiet?: boolean;
  /** Set when this shard never reached a worker: every host gets this as its `error` report, and nothing is sent. */
  notSent?: string;
}

export interface HostReapDeps {
  store: Pick<Store, 'tracked' | 'reports' | 'hosts' | 'quarantine'>;
  settings: ReapSettings;
  agentClient: AgentClientFactory;
  now: () => number;
  random: () => number;
  logger: Logger;
}

export interface Verdict {
  status: ReportStatus;
  error?: string;
  errorCode?: string;
  engineId?: string;
  clockOffsetMs?: number;
  snapshotAt?: string;
  trackedSent?: number;
  maxReap?: number | null;
  attempts: number;
  agentReport?: ReapReport;
  /** `unknown`: no answer and the agent may have acted; `recovered`: the answer was lost, the report had after. */
  outcome?: 'unknown' | 'recovered';
  /** For a recovered outcome: what was lost. */
  lost?: { status: ReportStatus; error: string; at: string };
  /** For an unknown outcome a later run may still have from the agent: when the command was last sent. */
  unknownSentAt?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function createHostReaper(deps: HostReapDeps) {
  const { store, settings, now } = deps;

  /** One agent call with retries (network errors and 5xx only), bounded by the work deadline. */
  function withRetries<T>(ctx: RunContext, call: (signal: AbortSignal) => Promise<T>, onAttempt: () => void): Promise<T> {
    return withBackoff(
      async () => {
        const remaining = ctx.workDeadline - now();
        if (remaining < MIN_CALL_MS) throw new AgentCallError('timeout', 'no time left before the run deadline for another attempt');
        onAttempt();
        return call(AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.min(settings.agentTimeoutMs, remaining))]));
      },
      {
        attempts: settings.agentAttempts,
        baseMs: 250,
        capMs: 4000,
        deadlineAt: ctx.workDeadline,
        reserveMs: MIN_CALL_MS,
        isRetryable: (error) => error instanceof AgentCallError && error.retryable,
        now,
        random: deps.random,
      },
    );
  }

  function clientFor(host: Host, masterKey: string): AgentClient {
    return deps.agentClient({ baseUrl: host.agentUrl, hostKey: decodeKey(deriveHostKey(masterKey, host.hostId)), now });
  }

  /**
   * GET /v1/identity: the engine, and an anchor issued before the snapshot is taken (S2). The
   * clock offset is measured against the middle of the round trip, so delivery time does not
   * count as clock error (S12).
   */
  async function identify(host: Host, ctx: RunContext, masterKey: string): Promise<{ identity: Identity; measuredOffsetMs: number; attempts: number } | { verdict: Verdict }> {
    const urlRefused = refusedUrl(host); // SPEC §4: before anything is sent (the binding step calls this first)
    if (urlRefused) return { verdict: urlRefused };
    if (now() >= ctx.workDeadline - MIN_CALL_MS) return { verdict: { status: 'timeout', error: NOT_REACHED, attempts: 0 } };
    const client = clientFor(host, masterKey);
    let attempts = 0;
    let sentAt = 0;
    try {
      const identity = await withRetries(ctx, (signal) => client.identity(signal), () => {
        attempts++;
        sentAt = now();
      });
      if (identity.hostId !== host.hostId) return { verdict: { status: 'refused', errorCode: 'host_mismatch', error: `the agent serves host ${identity.hostId}, not ${host.hostId}; nothing was sent`, attempts } };
      const measuredOffsetMs = Math.round(identity.agentTimeMs - (sentAt + now()) / 2);
      return { identity, measuredOffsetMs, attempts };
    } catch (error) {
      return { verdict: { status: failureStatus(error), error: `identity check failed, nothing was sent: ${describe(error)}`, ...codeOf(error), attempts } };
    }
  }

  async function command(host: Host, ctx: RunContext, masterKey: string, prepared: Prepared | undefined): Promise<Verdict> {
    const urlRefused = refusedUrl(host); // SPEC §4: a host item written by hand must not bypass the URL rules
    if (urlRefused) return urlRefused;
    // What the binding step learnt is this host's outcome, whenever it comes back.
    if (prepared && 'verdict' in prepared) return prepared.verdict;
    if (now() >= ctx.workDeadline - MIN_CALL_MS) return { status: 'timeout', error: NOT_REACHED, attempts: 0 };

    // S10 and S2: who the engine is, and an anchor taken before the snapshot.
    let known: { identity: Identity; measuredOffsetMs: number; binding: Binding; attempts: number };
    // `attempts` counts reap commands sent (S6 retries), not the identity call before them.
    if (prepared) known = { ...prepared, attempts: 0 };
    else {
      const identified = await identify(host, ctx, masterKey);
      if ('verdict' in identified) return identified.verdict;
      const { engineId } = identified.identity;
      // Unpinned hosts come prepared by the run's binding step; one that does not is stopped below.
      const binding: Binding = host.engineId === undefined ? { kind: 'bound', engineId } : checkPinned(host.hostId, host.engineId, engineId);
      known = { ...identified, attempts: 0, binding };
    }
    const { identity, measuredOffsetMs, binding } = known;
    const seen = { engineId: identity.engineId, clockOffsetMs: measuredOffsetMs };
    if (binding.kind === 'refused') return { ...seen, status: 'refused', errorCode: binding.code, error: binding.message, attempts: known.attempts };
    if (host.engineId === undefined && binding.kind !== 'pin') {
      // Unpinned hosts are pinned by the run's binding step before their turn; never reaped unpinned.
      return { ...seen, status: 'error', error: 'internal error: an unpinned host reached its command without being pinned; nothing was sent', attempts: known.attempts };
    }

    // S2: the snapshot is taken after the anchor and before the registry is read, so a container
    // tracked after the read is younger than both.
    const snapshotAtMs = now();
    const snapshotAt = iso(snapshotAtMs);
    let tracked;
    let quarantine: QuarantineRef[];
    try {
      [tracked, quarantine] = await Promise.all([
        store.tracked.readTracked(host.hostId, Math.floor(snapshotAtMs / 1000), { abortSignal: ctx.signal, leaseSkewSeconds: settings.leaseSkewSeconds }),
        // A host known to have no quarantine records is not asked (a Query a host a minute, S11).
        host.quarantineRecords === false
          ? Promise.resolve([])
          : store.quarantine.list(host.hostId, { abortSignal: ctx.signal }).then((entries) => entries.map((e) => ({ clawboxId: e.clawboxId, dockerId: e.dockerId, since: e.since, paused: e.paused }))),
      ]);
    } catch (error) {
      // S5: a failed or partial read never becomes a command. One cut short by the work deadline
      // is this host's `timeout` (its registry is not known to be broken).
      if (ctx.signal.aborted) return { ...seen, status: 'timeout', error: 'registry read not finished before the run deadline; nothing was sent', snapshotAt, attempts: known.attempts };
      return { ...seen, status: 'error', error: `registry read failed, nothing was sent: ${describe(error)}`, snapshotAt, attempts: known.attempts };
    }

    const maxReap = ctx.force ? null : (host.maxReap ?? settings.maxReap);
    const body: Omit<ReapRequest, 'fleetBudget'> = {
      runId: ctx.runId,
      hostId: host.hostId,
      tracked: tracked.refs,
      snapshotAt,
      graceSeconds: settings.graceSeconds,
      stopTimeoutSeconds: settings.stopTimeoutSeconds,
      maxReap,
      dryRun: ctx.dryRun,
      anchor: identity.anchor,
      engineId: binding.engineId,
      ...(ctx.force ? {} : { maxReapPercent: { percent: settings.maxReapPercent, min: settings.maxReapPercentMin } }),
      quarantineSeconds: ctx.quarantineSeconds,
      quarantine,
    };
    // A command the agent would refuse as too large is not sent; the report says how to fix it.
    const tooLarge = commandSizeProblem(body);
    if (tooLarge !== undefined) {
      return { ...seen, status: 'error', errorCode: TRACKED_SET_TOO_LARGE, error: tooLarge, snapshotAt, maxReap, attempts: known.attempts };
    }
    // S4: the host's share of the fleet budget is held for the whole command: what is free, up
    // to its cap, at once.
    const budget = ctx.budget;
    let granted = budget === undefined || maxReap === null ? undefined : budget.take(Math.min(maxReap, budget.total));
    let used = granted ?? 0;
    try {
      const sent = { ...seen, snapshotAt, trackedSent: tracked.refs.length, maxReap };
      const client = clientFor(host, masterKey);
      // A retry sends the same runId: the agent replays the first run's report (S6). An answer
      // lost is asked for (GET /v1/reaps/:runId) until the work deadline (./recover.ts).
      const send = (grant: number | undefined) =>
        sendWithRecovery({
          client,
          request: { ...body, ...(grant === undefined ? {} : { fleetBudget: grant }) },
          settings,
          workDeadline: ctx.workDeadline,
          signal: ctx.signal,
          now,
          random: deps.random,
          minCallMs: MIN_CALL_MS,
        });
      let delivery = await send(granted);
      let attempts = known.attempts + delivery.attempts;
      // Capped by a grant smaller than it needs, the agent touched nothing and did not keep the run:
      // wait for others to give back what it needs, then send the same run again (S4).
      const need = delivery.report?.status === 'capped' && delivery.report.cap?.guard === 'fleet-max-reap' ? delivery.report.cap.removals : undefined;
      if (budget !== undefined && granted !== undefined && need !== undefined && need > granted && maxReap !== null && need <= maxReap) {
        budget.settle(granted, 0);
        granted = undefined;
        const regrant = await budget.reserve(need, ctx.signal);
        granted = regrant;
        used = regrant;
        if (regrant >= need && !ctx.signal.aborted) {
          delivery = await send(regrant);
          attempts += delivery.attempts;
        }
      }
      const report = delivery.report;
      if (report) {
        if (report.runId !== ctx.runId || report.hostId !== host.hostId) {
          return { ...sent, status: 'error', error: `agent answered for run ${report.runId} on host ${report.hostId}, not this command`, attempts };
        }
        // Networks and volumes are held to the grant per kind (SPEC §9): the grant was used as far as the most-used kind.
        const c = report.counts;
        used = Math.max(c.removed + c.failed, (c.networksRemoved ?? 0) + (c.resourcesFailed ?? 0), (c.volumesRemoved ?? 0) + (c.resourcesFailed ?? 0));
        const recovered = delivery.lost ? { outcome: 'recovered' as const, lost: delivery.lost } : {};
        if (!ctx.dryRun && (report.status === 'ok' || report.status === 'partial')) {
          const problem = await recordQuarantine(host, quarantine, report, ctx);
          if (problem) return { ...sent, status: report.status, attempts, agentReport: report, error: problem, ...recovered };
        }
        return { ...sent, engineId: report.engineId, status: report.status, attempts, agentReport: report, ...recovered };
      }
      const error = delivery.error;
      // Refused before it started, or never delivered: the grant was not used. After an attempt
      // whose outcome is unknown (network error, 5xx, timeout), it stays spent (S4).
      if (!delivery.everMaybeActed) used = 0;
      if (error instanceof AgentCallError && error.httpStatus === 413) {
        return { ...sent, status: 'error', errorCode: TRACKED_SET_TOO_LARGE, error: bodyLimitProblem(body), attempts };
      }
      const status = error instanceof AgentCallError && error.code === 'engine_mismatch' ? 'refused' : failureStatus(error);
      if (delivery.interrupted) {
        return {
          ...sent,
          status,
          errorCode: 'run_interrupted',
          error: `${describe(error)}; outcome unknown: the agent began this run and stopped before it finished (a crash or a kill mid-reap), so what it did is not known; it will not run it again`,
          attempts,
          outcome: 'unknown',
        };
      }
      if (delivery.maybeActed) {
        return {
          ...sent,
          status,
          error: `${describe(error)}; outcome unknown: the agent may have acted on the command and its report could not be had before the run deadline; a later run asks the agent for it and fills this report in`,
          ...codeOf(error),
          attempts,
          outcome: 'unknown',
          ...(delivery.lastSentAt === undefined ? {} : { unknownSentAt: delivery.lastSentAt }),
        };
      }
      return { ...sent, status, error: describe(error), ...codeOf(error), attempts };
    } finally {
      if (granted !== undefined) ctx.budget?.settle(granted, used);
    }
  }

  /**
   * Keeps the quarantine records in step with what the agent did (S11, ./quarantine-records.ts).
   * A record that cannot be written only delays a removal (the container is quarantined afresh).
   */
  async function recordQuarantine(host: Host, before: readonly QuarantineRef[], report: ReapReport, ctx: RunContext): Promise<string | undefined> {
    const hostId = host.hostId;
    const { put, remove } = quarantineRecordChanges(before, report);
    const remaining = new Set(before.map((q) => q.dockerId));
    for (const id of remove) remaining.delete(id);
    for (const p of put) remaining.add(p.dockerId);
    try {
      // The flag is raised before any record is written, so no record is ever hidden by it.
      if (put.length > 0 && host.quarantineRecords !== true) await store.hosts.markQuarantine(hostId, true);
      if (put.length > 0 || remove.length > 0) await store.quarantine.apply(hostId, { put, remove }, { deadlineAt: ctx.deadlineAt - FINISH_MS });
      if (remaining.size === 0 && host.quarantineRecords !== false) {
        await store.hosts.markQuarantine(hostId, false);
        // Another run may have quarantined something here meanwhile: look again, consistently.
        if ((await store.quarantine.list(hostId, { abortSignal: ctx.signal })).length > 0) await store.hosts.markQuarantine(hostId, true);
      }
      return undefined;
    } catch (error) {
      if (put.length === 0 && remove.length === 0) {
        deps.logger.warn({ runId: ctx.runId, hostId, err: error }, 'could not update the host’s quarantine flag; the next run reads its quarantine records');
        return undefined;
      }
      deps.logger.error({ runId: ctx.runId, hostId, err: error, put, remove }, 'QUARANTINE NOT RECORDED: the records in this line were not written; the containers are quarantined afresh next run');
      return `quarantine records not written (${describe(error)}); removal of newly quarantined containers is delayed by one quarantine period`;
    }
  }

  /**
   * Writes a host's full report (S8, SPEC §10). False when this outcome is not this run's to
   * record further: another delivery wrote it (duplicate), or the write failed (logged whole).
   */
  async function storeReport(host: Host, ctx: RunContext, verdict: Verdict, input: ReportInput, outcome: HostOutcome, log: Logger): Promise<boolean> {
    const writeBy = ctx.deadlineAt - FINISH_MS;
    // The write must be done before the Lambda ends (S8). putReport stops retrying by then, but
    // cannot cut an attempt short: one still pending at the end is abandoned here, and the report
    // logged whole (the abandoned write may still land; the item is the same either way).
    try {
      const written = await settleBy(store.reports.putReport(input, { deadlineAt: writeBy }), writeBy - now());
      if (written === TIMED_OUT) throw new Error('the report write did not finish before the run deadline');
      outcome.reportWritten = true;
    } catch (error) {
      if (error instanceof DuplicateReportError) {
        // Another delivery of this run wrote this host's report (SPEC §10): this outcome is not
        // written nor counted. If that report's outcome was unknown and this one has the agent's
        // report (a replay of the same run), it is filled in.
        outcome.duplicate = true;
        let filled = false;
        if (verdict.agentReport) {
          filled = await store.reports
            .fillInReport({ hostId: host.hostId, runId: ctx.runId, startedAt: ctx.startedAt }, verdict.agentReport, { at: iso(now()), byRunId: ctx.runId }, { deadlineAt: writeBy })
            .catch(() => false);
        }
        log.warn({ status: verdict.status, filledIn: filled }, 'duplicate delivery: this host already has a report for this run; this outcome is not written nor counted');
        return false;
      }
      // Nothing is lost: the whole report goes to the log (it holds no secret, S9), from which it
      // can be written again by hand (the item is buildReportItem(report)).
      log.error({ err: error, status: verdict.status, report: input }, 'REPORT NOT STORED: could not write the host report; the full report is in this line');
      return false;
    }
    return true;
  }

  async function reapHost(host: Host, ctx: RunContext, options: ReapHostOptions = {}): Promise<HostOutcome> {
    const began = now();
    const log = deps.logger.child({ runId: ctx.runId, hostId: host.hostId });
    let verdict: Verdict;
    const pendingBefore = host.lastReap?.unknownRuns ?? [];
    let stillUnknown: Promise<PendingRun[]> = Promise.resolve(pendingBefore);
    // A host that could never have been contacted says why, even when its turn never came.
    if (ctx.notSent !== undefined) verdict = { status: 'error', error: ctx.notSent, attempts: 0 };
    else if (ctx.masterKey instanceof Error) verdict = { status: 'error', error: `master key unavailable, nothing was sent: ${ctx.masterKey.message}`, attempts: 0 };
    else if (options.notReached) verdict = { status: 'timeout', error: NOT_REACHED, attempts: 0 };
    else {
      // Earlier runs whose outcome is unknown are asked about beside this one's command, so the
      // command waits for nothing (one bounded question each).
      if (pendingBefore.length > 0) stillUnknown = fillIn(host, ctx, ctx.masterKey, pendingBefore, log);
      try {
        verdict = await command(host, ctx, ctx.masterKey, options.prepared);
      } catch (error) {
        // Not expected (command() catches what it calls); still this host's report, never the run's end.
        verdict = { status: 'error', error: `internal error: ${describe(error)}`, attempts: 0 };
      }
    }
    const pending = (await stillUnknown).filter((p) => p.runId !== ctx.runId);
    const finished = now();
    const input: ReportInput = {
      hostId: host.hostId,
      runId: ctx.runId,
      trigger: ctx.trigger,
      status: verdict.status,
      error: verdict.error,
      errorCode: verdict.errorCode,
      engineId: verdict.engineId,
      clockOffsetMs: verdict.clockOffsetMs,
      startedAt: ctx.startedAt,
      snapshotAt: verdict.snapshotAt,
      finishedAt: iso(finished),
      durationMs: finished - began,
      dryRun: ctx.dryRun,
      force: ctx.force,
      maxReap: verdict.maxReap,
      trackedSent: verdict.trackedSent,
      attempts: verdict.attempts,
      runHosts: ctx.runHosts,
      agentReport: verdict.agentReport,
      outcome: verdict.outcome,
      lost: verdict.lost,
    };
    const outcome: HostOutcome = {
      hostId: host.hostId,
      status: verdict.status,
      ...(verdict.error === undefined ? {} : { error: verdict.error }),
      ...(verdict.errorCode === undefined ? {} : { errorCode: verdict.errorCode }),
      ...(verdict.agentReport?.cap === undefined ? {} : { cap: verdict.agentReport.cap }),
      attempts: verdict.attempts,
      durationMs: finished - began,
      counts: verdict.agentReport?.counts ?? null,
      reportWritten: false,
      ...(verdict.outcome === undefined ? {} : { outcome: verdict.outcome }),
    };
    const previous = host.lastReap;
    const quiet = ctx.compactQuiet === true && isQuiet(input);
    const failures = failureCount(previous, verdict.status);
    const cap = verdict.agentReport?.cap;
    const budgetNeed = cap?.guard === 'fleet-max-reap' ? (cap.removals ?? cap.orphans) : undefined;
    const writeBy = ctx.deadlineAt - FINISH_MS;
    // Recorded by the shard item, with the shard's other quiet hosts (one write for all of them).
    if (quiet) outcome.quiet = quietEntry(input);
    else if (!(await storeReport(host, ctx, verdict, input, outcome, log))) return outcome;
    // The reports still to be filled in, this one's included when a later run may have it.
    if (verdict.outcome === 'unknown' && verdict.unknownSentAt !== undefined) pending.push({ runId: ctx.runId, startedAt: ctx.startedAt, sentAt: iso(verdict.unknownSentAt) });
    const unknownRuns = pending.slice(-MAX_UNKNOWN_RUNS);
    const pendingChanged = JSON.stringify(unknownRuns) !== JSON.stringify(pendingBefore);
    // lastReap is a convenience copy (the report is the record): skipped past the work deadline,
    // and abandoned there when slow, so that it never holds a slot other hosts wait for. Only
    // when it carries the list of unknown outcomes to fill in is it written in the margin too.
    if (!pendingChanged && (ctx.signal.aborted || now() >= ctx.workDeadline)) return outcome;
    // A quiet run after a quiet run changes nothing an operator or a later run reads from lastReap.
    if (quiet && previous?.quiet === true && !pendingChanged) return outcome;
    const recordBy = pendingChanged ? Math.max(writeBy, ctx.workDeadline) : ctx.workDeadline;
    try {
      const recorded = await settleBy(
        store.hosts.recordLastReap(host.hostId, {
          runId: ctx.runId,
          at: iso(finished),
          status: verdict.status,
          counts: outcome.counts,
          ...(verdict.error === undefined ? {} : { error: verdict.error.slice(0, 2000) }),
          ...(verdict.errorCode === undefined ? {} : { errorCode: verdict.errorCode }),
          ...(verdict.clockOffsetMs === undefined ? {} : { clockOffsetMs: verdict.clockOffsetMs }),
          ...(verdict.outcome === 'unknown' ? { outcome: 'unknown' as const } : {}),
          ...(unknownRuns.length > 0 ? { unknownRuns } : {}),
          ...(quiet ? { quiet: true } : {}),
          ...(failures > 0 ? { failures } : {}),
          ...(budgetNeed === undefined ? {} : { budgetNeed }),
        }),
        recordBy - now(),
      );
      if (recorded === TIMED_OUT) log.warn('lastReap not updated before the run deadline');
      else outcome.failureStreak = failures;
    } catch (error) {
      log.warn({ err: error }, 'could not update the host lastReap');
    }
    return outcome;
  }

  /** The unknown outcomes of this host's earlier runs, asked for and filled in (./recover.ts); returns those still unknown. */
  async function fillIn(host: Host, ctx: RunContext, masterKey: string, pending: readonly PendingRun[], log: Logger): Promise<PendingRun[]> {
    if (checkAgentUrl(host) !== undefined) return [...pending];
    try {
      return await fillInUnknown({
        pending,
        hostId: host.hostId,
        client: clientFor(host, masterKey),
        fill: (entry, report) => store.reports.fillInReport({ hostId: host.hostId, runId: entry.runId, startedAt: entry.startedAt }, report, { at: iso(now()), byRunId: ctx.runId }, { deadlineAt: ctx.workDeadline }),
        now,
        signal: ctx.signal,
        timeoutMs: Math.min(FILL_IN_TIMEOUT_MS, ctx.workDeadline - MIN_CALL_MS - now()),
        log,
      });
    } catch (error) {
      log.warn({ err: error }, 'could not fill in earlier unknown outcomes; the next run asks again');
      return [...pending];
    }
  }

  return { reapHost, identify };
}

export type HostReaper = ReturnType<typeof createHostReaper>;

const TIMED_OUT = Symbol('timed out');

/** `promise`'s value, or TIMED_OUT after `ms` (its later outcome is then ignored). */
async function settleBy<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}
