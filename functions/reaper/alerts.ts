/**
 * Alerts after a run (SPEC §6): one per host left capped, refused, error, unreachable, timeout or
 * partial; one when a host has failed N runs in a row; one when a report could not be stored.
 * Sent to every configured sink (a webhook, an SNS topic) after the run's reports are written,
 * within the Lambda's remaining time minus a margin: delivery never delays a report nor fails
 * the run. A failing sink is logged (never its URL: a chat webhook's URL is itself a secret) and
 * retried once.
 *
 * S9: an alert carries ids, statuses, counts and the report's message, scrubbed of anything that
 * looks like a key, token or signature.
 */
import type { Logger } from '../../lib/logger.js';
import type { LastReap, ReportStatus } from '../store/schemas.js';
import type { HostOutcome } from './host-reap.js';
import type { RunResult } from './run.js';

export type AlertKind = 'host-status' | 'failure-streak' | 'report-not-stored';

/** The payload, exactly (SPEC §6). */
export interface Alert {
  kind: AlertKind;
  runId: string;
  hostId: string;
  status: ReportStatus;
  counts: HostOutcome['counts'];
  message: string;
  /** One readable line for a chat channel. */
  text: string;
}

export interface AlertSettings {
  webhookUrl?: string | undefined;
  topicArn?: string | undefined;
  /** A host failing this many runs in a row gets one streak alert (on the Nth). */
  failureStreak: number;
}

/** Statuses that get an alert of their own. */
export const ALERT_STATUSES: ReadonlySet<ReportStatus> = new Set(['capped', 'refused', 'error', 'unreachable', 'timeout', 'partial']);
/** Statuses that count as a failed run for the streak (a cap is a guard doing its job, not a failure). */
export const FAILED_STATUSES: ReadonlySet<ReportStatus> = new Set(['refused', 'error', 'unreachable', 'timeout', 'partial']);

/**
 * Failed runs in a row up to a run with this status, from the host's previous lastReap (which
 * keeps the count). A lastReap written before the count existed counts as one failure if it failed.
 */
export function failureCount(previous: Pick<LastReap, 'status' | 'failures'> | undefined, status: ReportStatus): number {
  if (!FAILED_STATUSES.has(status)) return 0;
  const before = previous === undefined ? 0 : (previous.failures ?? (FAILED_STATUSES.has(previous.status) ? 1 : 0));
  return before + 1;
}

/** Per try; two tries per alert and sink. */
export const WEBHOOK_TIMEOUT_MS = 3_000;
export const SINK_ATTEMPTS = 2;
/** Kept free before the Lambda's end when sending. */
export const ALERT_MARGIN_MS = 1_000;
/** Most alerts one run sends; the rest are logged (a whole fleet down is one incident, not a flood). */
export const MAX_ALERTS_PER_RUN = 100;
const MESSAGE_MAX = 500;

/** S9: long hex or base64 runs, bearer tokens and signature-like fields are replaced. */
export function scrub(text: string): string {
  return text
    .replace(/\b(bearer|basic)\s+\S+/gi, '$1 [redacted]')
    .replace(/\b(authorization|signature|token|secret|password|[a-z]*key)(\s*[:=]\s*)(?!\[redacted\])\S+/gi, '$1$2[redacted]')
    .replace(/[A-Fa-f0-9]{32,}/g, '[redacted]')
    .replace(/[A-Za-z0-9+/_-]{40,}={0,2}/g, '[redacted]')
    .slice(0, MESSAGE_MAX);
}

function countsText(counts: HostOutcome['counts']): string {
  if (!counts) return '';
  return ` (orphans ${counts.orphans}, removed ${counts.removed}, failed ${counts.failed})`;
}

/** The run's alerts, before the streak check. */
export function alertsForRun(result: Pick<RunResult, 'runId' | 'hosts'>): Alert[] {
  const out: Alert[] = [];
  for (const h of result.hosts) {
    if (h.duplicate) continue;
    if (ALERT_STATUSES.has(h.status)) {
      const why =
        h.status === 'capped' && h.cap
          ? `capped by ${h.cap.guard} (limit ${h.cap.limit}, ${h.cap.orphans} orphans of ${h.cap.labelled} labelled); nothing was removed. Check the registry, then reap it with force if the orphans are real`
          : (h.error ?? h.errorCode ?? h.status);
      const message = scrub(why);
      out.push({
        kind: 'host-status',
        runId: result.runId,
        hostId: h.hostId,
        status: h.status,
        counts: h.counts,
        message,
        text: scrub(`clawbox-reaper: host ${h.hostId} is ${h.status} in run ${result.runId}: ${message}${countsText(h.counts)}`),
      });
    }
    if (!h.reportWritten) {
      const message = `the report of host ${h.hostId} could not be stored; the run's outcome for it is only in the logs`;
      out.push({ kind: 'report-not-stored', runId: result.runId, hostId: h.hostId, status: h.status, counts: h.counts, message, text: `clawbox-reaper: ${message} (run ${result.runId}, status ${h.status})` });
    }
  }
  return out;
}

export interface AlerterDeps {
  settings: AlertSettings;
  logger: Logger;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Publishes one message to the topic; default: @aws-sdk/client-sns, loaded on first use. */
  publish?: (topicArn: string, subject: string, message: string, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface Alerter {
  /** Never throws; resolves by `deadlineAt - ALERT_MARGIN_MS` at the latest. */
  afterRun(result: RunResult, deadlineAt: number): Promise<Alert[]>;
}

/**
 * @aws-sdk/client-sns (package.json, pinned to 3.1169.0 like client-dynamodb and client-ssm, so
 * one @smithy core serves every client in the bundle): the SDK's own client for SNS Publish, with
 * the Lambda role's credentials and SigV4 done as for DynamoDB. Imported lazily, only when a topic
 * is configured, so local runs and webhook-only setups never load it.
 */
function snsPublisher(): NonNullable<AlerterDeps['publish']> {
  let client: Promise<{ send: (command: unknown, options: { abortSignal: AbortSignal }) => Promise<unknown> }> | undefined;
  let Command: (new (input: { TopicArn: string; Subject: string; Message: string }) => unknown) | undefined;
  return async (topicArn, subject, message, signal) => {
    client ??= import('@aws-sdk/client-sns').then((sns) => {
      Command = sns.PublishCommand as unknown as typeof Command;
      return new sns.SNSClient({ maxAttempts: 1 }) as unknown as { send: (command: unknown, options: { abortSignal: AbortSignal }) => Promise<unknown> };
    });
    const c = await client;
    await c.send(new Command!({ TopicArn: topicArn, Subject: subject, Message: message }), { abortSignal: signal });
  };
}

export function createAlerter(deps: AlerterDeps): Alerter {
  const now = deps.now ?? Date.now;
  const doFetch = deps.fetch ?? fetch;
  const publish = deps.publish ?? snsPublisher();
  const { webhookUrl, topicArn, failureStreak } = deps.settings;

  /**
   * True when this run's failure is the host's Nth in a row (and not the N+1th): the count the run
   * kept in the host's lastReap (functions/reaper/host-reap.ts). Quiet runs write no report item,
   * so the streak cannot be read back from the reports.
   */
  function streakReached(outcome: HostOutcome): boolean {
    if (failureStreak < 1) return false;
    return outcome.failureStreak === failureStreak;
  }

  async function tryTwice(what: string, alert: Alert, signal: AbortSignal, once: (signal: AbortSignal) => Promise<void>): Promise<boolean> {
    for (let attempt = 1; attempt <= SINK_ATTEMPTS; attempt++) {
      if (signal.aborted) break;
      try {
        await once(AbortSignal.any([signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]));
        return true;
      } catch (error) {
        deps.logger.warn({ runId: alert.runId, hostId: alert.hostId, kind: alert.kind, sink: what, attempt, error: scrub(error instanceof Error ? error.message : String(error)) }, 'alert not delivered');
      }
    }
    return false;
  }

  async function toWebhook(url: string, alert: Alert, signal: AbortSignal): Promise<boolean> {
    return tryTwice('webhook', alert, signal, async (s) => {
      const res = await doFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: s, redirect: 'error' });
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
    });
  }

  async function toTopic(arn: string, alert: Alert, signal: AbortSignal): Promise<boolean> {
    const subject = `clawbox-reaper ${alert.kind} ${alert.status}`.slice(0, 100);
    return tryTwice('sns', alert, signal, (s) => publish(arn, subject, JSON.stringify(alert), s));
  }

  return {
    async afterRun(result, deadlineAt) {
      if (webhookUrl === undefined && topicArn === undefined) return [];
      const budget = deadlineAt - ALERT_MARGIN_MS - now();
      if (budget <= 0) {
        deps.logger.warn({ runId: result.runId }, 'no time left to send alerts');
        return [];
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('alert deadline')), budget);
      const signal = controller.signal;
      try {
        const alerts = alertsForRun(result);
        const failing = result.hosts.filter((h) => !h.duplicate && FAILED_STATUSES.has(h.status)).slice(0, MAX_ALERTS_PER_RUN);
        const streaks = failing.filter((h) => streakReached(h));
        for (const h of streaks) {
          if (!h) continue;
          const message = `failed ${failureStreak} runs in a row; latest: ${scrub(h.error ?? h.status)}`;
          alerts.push({ kind: 'failure-streak', runId: result.runId, hostId: h.hostId, status: h.status, counts: h.counts, message, text: scrub(`clawbox-reaper: host ${h.hostId} has ${message}`) });
        }
        const sent = alerts.slice(0, MAX_ALERTS_PER_RUN);
        if (alerts.length > sent.length) deps.logger.warn({ runId: result.runId, suppressed: alerts.length - sent.length }, 'too many alerts for one run; the rest are only in the reports');
        await Promise.all(
          sent.map(async (alert) => {
            await Promise.all([webhookUrl === undefined ? undefined : toWebhook(webhookUrl, alert, signal), topicArn === undefined ? undefined : toTopic(topicArn, alert, signal)]);
          }),
        );
        return sent;
      } catch (error) {
        deps.logger.warn({ runId: result.runId, error: scrub(error instanceof Error ? error.message : String(error)) }, 'alerts failed');
        return [];
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
