/**
 * Sending one host's reap command, and recovering its outcome when the answer is lost (SPEC §4
 * `GET /v1/reaps/:runId`, issue 10).
 *
 * A command is sent; if its answer never comes back (a timeout, a 5xx, a cut connection, an agent
 * gone mid-call) the agent may have acted on it, so instead of guessing, the agent is asked for
 * the run's report, with a short backoff, until the work deadline:
 * - 200: the report, exactly as the command would have been answered: the real outcome;
 * - 202: still running: ask again;
 * - 404 `unknown_run`: the agent never started the run; the command may be sent again (same
 *   runId; S6 holds on the agent: a runId it knows is never run twice, and a resend carries the
 *   first attempt's anchor, which a restarted agent refuses);
 * - 410 `run_interrupted`: the agent began the run and stopped mid-reap (a crash): the outcome
 *   cannot be known; nothing is sent again.
 * A command that cannot have reached the agent (connection refused, name not found, TLS
 * handshake refused) is simply retried, as before. An agent that does not know the route (an
 * older build: a plain 404) gets the old behaviour: network errors and 5xx retried, nothing asked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReapReport, ReapRequest } from '../../lib/agent-contract.js';
import { jitteredDelay } from '../../lib/backoff.js';
import { AgentCallError, type AgentClient } from '../../lib/agent-client.js';
import type { ReapSettings } from './config.js';
import { describe, failureStatus, type FailureStatus } from './outcome.js';

/** Errors of a connection that never carried the request: nothing reached the agent. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** True only when the call certainly never reached the agent's handler (so the agent did not act on it). */
export function neverConnected(error: unknown): boolean {
  return error instanceof AgentCallError && error.kind === 'unreachable' && error.httpStatus === undefined && causeCodes(error.cause).some((c) => NOT_CONNECTED.has(c));
}

/**
 * Could the agent have acted on the command whose call failed so? No for a connection that never
 * carried it (refused, TLS handshake failed), and for an answered refusal (3xx, 4xx: the agent or
 * a proxy refused before any reap began; also when the answer's signature is bad); yes for
 * everything else: a timeout, a 5xx, a cut connection, a 2xx that could not be read or verified.
 */
export function mayHaveActed(error: unknown): boolean {
  if (!(error instanceof AgentCallError)) return true;
  if (error.code === 'run_interrupted') return true;
  // An answer whose signature does not verify says nothing trustworthy, its status included: the
  // command may have been carried out behind it, so its real report is asked for (and the fleet
  // grant stays spent until then).
  // An unsigned 401/403 is what a real agent answers when it cannot verify the command (another
  // key, a clock far off): nothing ran, and asking would only be refused the same way.
  if (error.code === 'bad_answer_signature') return error.claimedStatus !== 401 && error.claimedStatus !== 403;
  const status = error.httpStatus;
  if (status !== undefined) return status < 300 || status >= 500;
  if (error.kind === 'timeout') return true;
  if (error.kind === 'unreachable') return !neverConnected(error);
  // Failed before a request went out (a TLS handshake refused, a URL refused): nothing was sent.
  return false;
}

const isCode = (error: unknown, status: number, code?: string) => error instanceof AgentCallError && error.httpStatus === status && (code === undefined || error.code === code);

export interface SendOptions {
  client: Pick<AgentClient, 'reap' | 'reapResult'>;
  request: ReapRequest;
  settings: Pick<ReapSettings, 'agentAttempts' | 'agentTimeoutMs'>;
  workDeadline: number;
  /** The run's signal (fires at the work deadline). */
  signal: AbortSignal;
  now: () => number;
  random: () => number;
  /** No call is started with less time than this left before the work deadline. */
  minCallMs: number;
}

export interface Sent {
  /** The agent's report, when it was had (from the command's answer, or asked for after). */
  report?: ReapReport;
  /** When the report was had only after the command's answer was lost: what was lost. */
  lost?: { status: FailureStatus; error: string; at: string };
  /** Without a report: the last failure. */
  error?: unknown;
  /** Without a report: the agent may have acted on the command (the outcome is unknown). */
  maybeActed: boolean;
  /** Some attempt may have reached the agent (so the fleet grant stays spent without a report). */
  everMaybeActed: boolean;
  /** The agent began the run and did not finish it: the outcome can never be had. */
  interrupted: boolean;
  /** Commands sent. */
  attempts: number;
  /** When the command was last sent (epoch ms), if it was. */
  lastSentAt?: number;
}

export async function sendWithRecovery(options: SendOptions): Promise<Sent> {
  const { client, request, settings, now, minCallMs } = options;
  const remaining = () => options.workDeadline - now();
  const callSignal = () => AbortSignal.any([options.signal, AbortSignal.timeout(Math.max(1, Math.min(settings.agentTimeoutMs, remaining())))]);
  /** Waits, unless the wait would leave no time for a call after it; false then (or at the run's end). */
  const pause = async (ms: number): Promise<boolean> => {
    if (remaining() - ms < minCallMs) return false;
    try {
      await sleep(ms, undefined, { signal: options.signal });
      return true;
    } catch {
      return false;
    }
  };

  let attempts = 0;
  let lastSentAt: number | undefined;
  let lastError: unknown;
  let lost: Sent['lost'];
  let maybeActed = false;
  let everMaybeActed = false;
  let interrupted = false;
  let askable = true;
  let mode: 'send' | 'ask' = 'send';
  let sendRetries = 0;
  let asks = 0;

  const got = (report: ReapReport): Sent => ({ report, ...(lost ? { lost } : {}), maybeActed: true, everMaybeActed: true, interrupted: false, attempts, ...(lastSentAt === undefined ? {} : { lastSentAt }) });

  for (;;) {
    if (remaining() < minCallMs) {
      lastError ??= new AgentCallError('timeout', 'no time left before the run deadline for another attempt');
      break;
    }
    if (mode === 'send') {
      if (attempts >= settings.agentAttempts) break;
      attempts++;
      lastSentAt = now();
      try {
        return got(await client.reap(request, callSignal()));
      } catch (error) {
        lastError = error;
        if (!mayHaveActed(error)) {
          // Nothing reached the run: a connection that never carried it is tried again; an
          // answered refusal is final.
          if (neverConnected(error) && (await pause(jitteredDelay(sendRetries++, 250, 4000, options.random)))) continue;
          break;
        }
        maybeActed = true;
        everMaybeActed = true;
        lost ??= { status: failureStatus(error), error: describe(error), at: new Date(now()).toISOString() };
        if (isCode(error, 409, 'run_interrupted')) {
          interrupted = true;
          break;
        }
        if (!askable) {
          // An agent without GET /v1/reaps/:runId: network errors and 5xx are retried (its own
          // replay memory answers a retry of a run it carried out, S6); nothing else is.
          if (error instanceof AgentCallError && error.retryable && (await pause(jitteredDelay(sendRetries++, 250, 4000, options.random)))) continue;
          break;
        }
        mode = 'ask';
        asks = 0;
        continue;
      }
    }
    // Asking: a short backoff (0.25 s doubling to 2 s, jittered), every call bounded.
    const delay = Math.round(Math.min(2000, 250 * 2 ** asks) * (0.5 + options.random() / 2));
    asks++;
    if (!(await pause(delay))) break;
    try {
      const answer = await client.reapResult(request.runId, callSignal());
      if (answer.status === 'running') continue;
      return got(answer);
    } catch (error) {
      if (isCode(error, 404, 'unknown_run')) {
        // The agent never started it: the command did not get there whole. Send it again.
        maybeActed = false;
        mode = 'send';
        continue;
      }
      if (isCode(error, 410, 'run_interrupted')) {
        interrupted = true;
        break;
      }
      if (isCode(error, 404) || isCode(error, 405)) {
        askable = false;
        mode = 'send';
        if (lastError instanceof AgentCallError && lastError.retryable) continue;
        break;
      }
      // An answered refusal of the question (a changed key, a clock off), or a connection refused
      // before any request (TLS): asking again will not help.
      if (error instanceof AgentCallError && !mayHaveActed(error) && !neverConnected(error)) break;
      // A timeout, a 5xx, the agent still down: ask again.
    }
  }
  return { error: lastError, maybeActed, everMaybeActed, interrupted, attempts, ...(lastSentAt === undefined ? {} : { lastSentAt }) };
}

/** One question per unknown report at the start of a host's next command, bounded by this. */
export const FILL_IN_TIMEOUT_MS = 2000;
/** Unknown reports asked about per host per run (the newest). */
export const FILL_IN_PER_RUN = 3;
/** Unknown reports remembered per host (in its lastReap). */
export const MAX_UNKNOWN_RUNS = 10;
/**
 * A 404 for a command sent longer ago than this is final: no command that old can still reach the
 * agent and be run (its signature is good for 300 s, its anchor for 10 minutes).
 */
export const NOT_RUN_AFTER_MS = 15 * 60_000;
/** Agents keep reports at least 24 h: an unknown report older than this is given up. */
export const UNKNOWN_MAX_AGE_MS = 24 * 3600_000;

export interface PendingRun {
  runId: string;
  startedAt: string;
  sentAt: string;
}

export interface FillInOptions {
  pending: readonly PendingRun[];
  hostId: string;
  client: Pick<AgentClient, 'reapResult'>;
  /** Writes the report into the unknown one (functions/store/reports.ts fillInReport); false when it was not unknown any more. */
  fill: (entry: PendingRun, report: ReapReport) => Promise<boolean>;
  now: () => number;
  signal: AbortSignal;
  timeoutMs: number;
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
}

/**
 * Asks the agent for the reports of this host's earlier runs whose outcome is unknown and fills
 * them in. One bounded question per report (the newest FILL_IN_PER_RUN), all at once. Returns the
 * ones still unknown (to be asked again by the next run): still running, no answer, or a 404 too
 * soon to be final.
 */
export async function fillInUnknown(options: FillInOptions): Promise<PendingRun[]> {
  const nowMs = options.now();
  const live = options.pending.filter((p) => nowMs - Date.parse(p.startedAt) <= UNKNOWN_MAX_AGE_MS);
  const asked = live.slice(-FILL_IN_PER_RUN);
  const waiting = live.slice(0, -FILL_IN_PER_RUN);
  if (options.timeoutMs < 100) return live;
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  const kept = await Promise.all(
    asked.map(async (entry): Promise<PendingRun | undefined> => {
      const about = { unknownRunId: entry.runId };
      try {
        const answer = await options.client.reapResult(entry.runId, signal);
        if (answer.status === 'running') return entry;
        if (answer.runId !== entry.runId || answer.hostId !== options.hostId) {
          options.log.warn({ ...about, answeredRunId: answer.runId, answeredHostId: answer.hostId }, 'the agent answered for another run or host; the unknown report is left as it is');
          return undefined;
        }
        const filled = await options.fill(entry, answer);
        options.log.info({ ...about, status: answer.status, counts: answer.counts, filled }, filled ? 'unknown outcome recovered: the earlier report is filled in' : 'earlier report was not unknown any more');
        return undefined;
      } catch (error) {
        if (isCode(error, 410, 'run_interrupted')) {
          options.log.warn(about, 'the agent began that run and stopped before it finished: its outcome stays unknown');
          return undefined;
        }
        if (isCode(error, 404, 'unknown_run')) return options.now() - Date.parse(entry.sentAt) > NOT_RUN_AFTER_MS ? undefined : entry;
        // An agent without the route (an older build) can never answer; a report outside the
        // contract will not parse the next time either.
        if (isCode(error, 404) || isCode(error, 405)) return undefined;
        if (error instanceof AgentCallError && error.kind === 'bad-answer') return undefined;
        return entry;
      }
    }),
  );
  return [...waiting, ...kept.filter((e): e is PendingRun => e !== undefined)];
}
