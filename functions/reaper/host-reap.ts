/**
 * One host's part of a run, start to finish: snapshot, registry read, signed command (with
 * retries), report, lastReap. It never throws: whatever happens becomes this host's report (S8).
 */
import type { ReapReport, ReapRequest } from '../../agent/contract.js';
import { AgentCallError, type AgentClient, type AgentClientOptions } from '../../lib/agent-client.js';
import { withBackoff } from '../../lib/backoff.js';
import type { Logger } from '../../lib/logger.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import type { Store } from '../store/index.js';
import type { ReportInput } from '../store/report-item.js';
import type { Host, ReportStatus, Trigger } from '../store/schemas.js';
import type { ReapSettings } from './config.js';
import { describe, failureStatus } from './outcome.js';

/** No agent call is started with less time than this before the work deadline. */
export const MIN_CALL_MS = 500;

/**
 * Kept before the Lambda's end for what follows a report write: a write still pending then is
 * abandoned and the report logged (REPORT NOT STORED), and the run's summary is logged.
 */
export const FINISH_MS = 250;

const NOT_REACHED = 'not reached before the run deadline; nothing was sent';

/** How reapHost is asked to treat a host. */
export interface ReapHostOptions {
  /** The host's turn never came before the work deadline: report `timeout` without contacting anyone. */
  notReached?: boolean;
}

export interface HostOutcome {
  hostId: string;
  status: ReportStatus;
  error?: string;
  attempts: number;
  durationMs: number;
  counts: ReapReport['counts'] | null;
  /** False when even the report could not be written (logged in the run's summary). */
  reportWritten: boolean;
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
}

export interface HostReapDeps {
  store: Pick<Store, 'tracked' | 'reports' | 'hosts'>;
  settings: ReapSettings;
  agentClient: AgentClientFactory;
  now: () => number;
  random: () => number;
  logger: Logger;
}

interface Verdict {
  status: ReportStatus;
  error?: string;
  snapshotAt?: string;
  trackedSent?: number;
  maxReap?: number | null;
  attempts: number;
  agentReport?: ReapReport;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function createHostReaper(deps: HostReapDeps) {
  const { store, settings, now } = deps;

  async function command(host: Host, ctx: RunContext, masterKey: string): Promise<Verdict> {
    if (now() >= ctx.workDeadline - MIN_CALL_MS) return { status: 'timeout', error: NOT_REACHED, attempts: 0 };

    // S2: the snapshot is taken before the registry is read, so a container tracked after the
    // read is still younger than the snapshot and inside the grace.
    const snapshotAtMs = now();
    const snapshotAt = iso(snapshotAtMs);
    let tracked;
    try {
      tracked = await store.tracked.readTracked(host.hostId, Math.floor(snapshotAtMs / 1000), { abortSignal: ctx.signal });
    } catch (error) {
      // S5: a failed or partial read never becomes a command. One cut short by the work deadline
      // is this host's `timeout` (its registry is not known to be broken).
      if (ctx.signal.aborted) return { status: 'timeout', error: 'registry read not finished before the run deadline; nothing was sent', snapshotAt, attempts: 0 };
      return { status: 'error', error: `registry read failed, nothing was sent: ${describe(error)}`, snapshotAt, attempts: 0 };
    }

    const maxReap = ctx.force ? null : (host.maxReap ?? settings.maxReap);
    const request: ReapRequest = {
      runId: ctx.runId,
      hostId: host.hostId,
      tracked: tracked.refs,
      snapshotAt,
      graceSeconds: settings.graceSeconds,
      stopTimeoutSeconds: settings.stopTimeoutSeconds,
      maxReap,
      dryRun: ctx.dryRun,
    };
    const sent = { snapshotAt, trackedSent: tracked.refs.length, maxReap };
    const client = deps.agentClient({ baseUrl: host.agentUrl, hostKey: decodeKey(deriveHostKey(masterKey, host.hostId)), now });
    let attempts = 0;
    try {
      const report = await withBackoff(
        async () => {
          const remaining = ctx.workDeadline - now();
          if (remaining < MIN_CALL_MS) throw new AgentCallError('timeout', 'no time left before the run deadline for another attempt');
          attempts++;
          const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.min(settings.agentTimeoutMs, remaining))]);
          // A retry sends the same runId: the agent replays the first run's report (S6).
          return client.reap(request, signal);
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
      if (report.runId !== ctx.runId || report.hostId !== host.hostId) {
        return { ...sent, status: 'error', error: `agent answered for run ${report.runId} on host ${report.hostId}, not this command`, attempts };
      }
      return { ...sent, status: report.status, attempts, agentReport: report };
    } catch (error) {
      const status = failureStatus(error);
      const note = status === 'timeout' ? '; the agent may still finish this run, its log has the outcome' : '';
      return { ...sent, status, error: `${describe(error)}${note}`, attempts };
    }
  }

  return async function reapHost(host: Host, ctx: RunContext, options: ReapHostOptions = {}): Promise<HostOutcome> {
    const began = now();
    const log = deps.logger.child({ runId: ctx.runId, hostId: host.hostId });
    let verdict: Verdict;
    // A host that could never have been contacted says why, even when its turn never came.
    if (ctx.masterKey instanceof Error) verdict = { status: 'error', error: `master key unavailable, nothing was sent: ${ctx.masterKey.message}`, attempts: 0 };
    else if (options.notReached) verdict = { status: 'timeout', error: NOT_REACHED, attempts: 0 };
    else {
      try {
        verdict = await command(host, ctx, ctx.masterKey);
      } catch (error) {
        // Not expected (command() catches what it calls); still this host's report, never the run's end.
        verdict = { status: 'error', error: `internal error: ${describe(error)}`, attempts: 0 };
      }
    }
    const finished = now();
    const input: ReportInput = {
      hostId: host.hostId,
      runId: ctx.runId,
      trigger: ctx.trigger,
      status: verdict.status,
      error: verdict.error,
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
    };
    const outcome: HostOutcome = {
      hostId: host.hostId,
      status: verdict.status,
      ...(verdict.error === undefined ? {} : { error: verdict.error }),
      attempts: verdict.attempts,
      durationMs: finished - began,
      counts: verdict.agentReport?.counts ?? null,
      reportWritten: false,
    };
    // The write must be done before the Lambda ends (S8). putReport stops retrying by then, but
    // cannot cut an attempt short: one still pending at the end is abandoned here, and the report
    // logged whole (the abandoned write may still land; the item is the same either way).
    const writeBy = ctx.deadlineAt - FINISH_MS;
    try {
      const written = await settleBy(store.reports.putReport(input, { deadlineAt: writeBy }), writeBy - now());
      if (written === TIMED_OUT) throw new Error('the report write did not finish before the run deadline');
      outcome.reportWritten = true;
    } catch (error) {
      // Nothing is lost: the whole report goes to the log (it holds no secret, S9), from which it
      // can be written again by hand (the item is buildReportItem(report)).
      log.error({ err: error, status: verdict.status, report: input }, 'REPORT NOT STORED: could not write the host report; the full report is in this line');
      return outcome;
    }
    // lastReap is a convenience copy (the report is the record): skipped past the work deadline,
    // and abandoned there when slow, so that it never holds a slot other hosts wait for.
    if (ctx.signal.aborted || now() >= ctx.workDeadline) return outcome;
    try {
      const recorded = await settleBy(
        store.hosts.recordLastReap(host.hostId, { runId: ctx.runId, at: iso(finished), status: verdict.status, counts: outcome.counts }),
        ctx.workDeadline - now(),
      );
      if (recorded === TIMED_OUT) log.warn('lastReap not updated before the run deadline');
    } catch (error) {
      log.warn({ err: error }, 'could not update the host lastReap');
    }
    return outcome;
  };
}

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
