/**
 * `clawbox-reaper reap`: starts an on-demand run through the API, shows each host's outcome as it
 * arrives (a progress line on a terminal, plain lines when piped), and ends with a summary table.
 * Exit code 1 when any host did not reap cleanly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReportItem, RunView } from '../functions/api/contract.js';
import { ApiError, type ApiClient } from './api-client.js';
import { printJson, table } from './output.js';

export interface ReapOptions {
  host?: string[];
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
  wait?: boolean;
  timeoutMs: number;
  pollMs?: number;
}

/** Statuses that mean the host was reaped as asked (or deliberately not, in a dry run). */
const CLEAN = new Set(['ok', 'dry-run']);

export function reportRow(r: ReportItem): (string | number | undefined)[] {
  return [r.hostId, r.status, r.counts?.labelled, r.counts?.tracked, r.counts?.orphans, r.counts?.young, r.counts?.removed, r.counts?.failed, `${(r.durationMs / 1000).toFixed(1)}s`, r.error];
}
export const REPORT_HEADERS = ['HOST', 'STATUS', 'LABELLED', 'TRACKED', 'ORPHANS', 'YOUNG', 'REMOVED', 'FAILED', 'TIME', 'ERROR'];

export async function runReap(api: ApiClient, options: ReapOptions): Promise<number> {
  const started = await api.startReap({
    ...(options.host?.length ? { hosts: options.host } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
  });
  const tty = process.stderr.isTTY && !options.json;
  if (!options.json) process.stderr.write(`run ${started.runId} started on ${started.hosts.length} host(s)${options.dryRun ? ' (dry run)' : ''}\n`);
  if (options.wait === false) {
    if (options.json) printJson(started);
    return 0;
  }

  const seen = new Set<string>();
  const deadline = Date.now() + options.timeoutMs;
  let view: RunView;
  for (;;) {
    try {
      view = await api.getRun(started.runId);
    } catch (error) {
      // On AWS a run just handed to the reaper has no report yet, and is unknown until its first one.
      if (!(error instanceof ApiError && error.code === 'run_not_found')) throw error;
      view = { runId: started.runId, done: false, reports: [] };
    }
    for (const report of view.reports) {
      if (seen.has(report.hostId)) continue;
      seen.add(report.hostId);
      if (options.json) continue;
      const line = `${report.hostId}: ${report.status}${report.counts ? `, ${report.counts.removed} removed of ${report.counts.orphans} orphans` : ''}${report.error ? ` (${report.error})` : ''}`;
      process.stderr.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    }
    if (tty) process.stderr.write(`\r\x1b[2K[${seen.size}/${started.hosts.length}] hosts reported…`);
    if (view.done) break;
    if (Date.now() > deadline) {
      if (tty) process.stderr.write('\n');
      process.stderr.write(`clawbox-reaper: run ${started.runId} not finished after ${Math.round(options.timeoutMs / 1000)}s; follow it with \`clawbox-reaper reports --run ${started.runId}\`\n`);
      return 1;
    }
    await sleep(options.pollMs ?? 500);
  }
  if (tty) process.stderr.write('\r\x1b[2K');
  const reports = [...view.reports].sort((a, b) => a.hostId.localeCompare(b.hostId));
  if (options.json) printJson({ runId: view.runId, done: view.done, reports });
  else process.stdout.write(table(REPORT_HEADERS, reports.map(reportRow)));
  return reports.every((r) => CLEAN.has(r.status)) ? 0 : 1;
}
