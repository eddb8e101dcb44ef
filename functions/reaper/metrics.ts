/**
 * The run's metrics as one CloudWatch embedded-metric-format line (the Lambda convention: a JSON
 * line on stdout that CloudWatch Logs turns into metrics, no API call, no dependency). Namespace
 * ClawboxReaper; dimension-free, or by Stage when one is given.
 */
import { FAILED_STATUSES } from './alerts.js';
import type { RunResult } from './run.js';

export const METRICS_NAMESPACE = 'ClawboxReaper';

export interface RunMetrics {
  OrphansRemoved: number;
  HostsCapped: number;
  HostsFailing: number;
  ReportsNotStored: number;
  RunDurationMs: number;
}

export function runMetrics(result: RunResult): RunMetrics {
  const counted = result.hosts.filter((h) => !h.duplicate);
  return {
    OrphansRemoved: counted.reduce((n, h) => n + (h.counts?.removed ?? 0), 0),
    HostsCapped: counted.filter((h) => h.status === 'capped').length,
    HostsFailing: counted.filter((h) => FAILED_STATUSES.has(h.status)).length,
    ReportsNotStored: counted.filter((h) => !h.reportWritten).length,
    RunDurationMs: result.durationMs,
  };
}

/** One EMF line (no trailing newline). */
export function emfLine(result: RunResult, options: { stage?: string | undefined; timestamp: number }): string {
  const values = runMetrics(result);
  const metrics = (Object.keys(values) as (keyof RunMetrics)[]).map((Name) => ({ Name, Unit: Name === 'RunDurationMs' ? 'Milliseconds' : 'Count' }));
  return JSON.stringify({
    _aws: {
      Timestamp: options.timestamp,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [options.stage ? ['Stage'] : []], Metrics: metrics }],
    },
    ...(options.stage ? { Stage: options.stage } : {}),
    runId: result.runId,
    trigger: result.trigger,
    ...values,
  });
}
