/**
 * `clawbox-reaper reap`: starts an on-demand run through the API, shows each host's outcome as it
 * arrives (a progress line on a terminal, plain lines when piped), and ends with a summary table.
 * Exit code 1 when any host did not reap cleanly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReportSummary, RunView } from '../functions/api/contract.js';
import { ApiError, getWholeRun, type ApiClient } from './api-client.js';
import { printJson, table, UsageError } from './output.js';

export interface ReapOptions {
  host?: string[];
  dryRun?: boolean;
  force?: boolean;
  /** Remove orphans at once, without quarantine (S11). */
  now?: boolean;
  json?: boolean;
  wait?: boolean;
  timeoutMs: number;
  pollMs?: number;
}

/** Statuses that mean the host was reaped as asked (or deliberately not, in a dry run). */
const CLEAN = new Set(['ok', 'dry-run']);

/** Optional columns of the summary: quarantine counts (S11; agents before it send none) and a clock warning (S12). */
export interface ReportColumns {
  quarantine: boolean;
  clock: boolean;
}

export function columnsFor(reports: readonly ReportSummary[]): ReportColumns {
  return {
    quarantine: reports.some((r) => r.counts?.quarantined !== undefined || r.counts?.restored !== undefined),
    clock: reports.some((r) => r.clockFlag === true),
  };
}

export function reportRow(r: ReportSummary, columns: ReportColumns = { quarantine: false, clock: false }): (string | number | undefined)[] {
  const c = r.counts;
  return [
    r.hostId,
    r.status,
    c?.labelled,
    c?.tracked,
    c?.orphans,
    c?.young,
    c?.removed,
    c?.failed,
    ...(columns.quarantine ? [c?.quarantined, c?.restored] : []),
    `${(r.durationMs / 1000).toFixed(1)}s`,
    ...(columns.clock ? [r.clockFlag ? `! ${formatOffset(r.clockOffsetMs ?? 0)}` : r.clockOffsetMs === undefined ? undefined : 'ok'] : []),
    r.error,
  ];
}
export const REPORT_HEADERS = ['HOST', 'STATUS', 'LABELLED', 'TRACKED', 'ORPHANS', 'YOUNG', 'REMOVED', 'FAILED', 'TIME', 'ERROR'];
export function reportHeaders(columns: ReportColumns): string[] {
  return [...REPORT_HEADERS.slice(0, 8), ...(columns.quarantine ? ['QUARANTINED', 'RESTORED'] : []), 'TIME', ...(columns.clock ? ['CLOCK'] : []), 'ERROR'];
}

/** `+7.2s` / `-12.0s`: the agent's clock minus the control plane's. */
export function formatOffset(ms: number): string {
  return `${ms >= 0 ? '+' : '-'}${(Math.abs(ms) / 1000).toFixed(1)}s`;
}

/**
 * What an operator should know and do about a host the run did not reap as asked: which guard
 * capped it and how to go on (S4), why an engine binding refused it (S10), a clock off (S12).
 * One block of lines per host; empty when every host is fine.
 */
export function adviceFor(r: ReportSummary, agentUrl?: string): string[] {
  const h = r.hostId;
  const lines: string[] = [];
  if (r.status === 'capped') {
    const cap = r.cap;
    if (cap === undefined) {
      lines.push(`${h}: capped: ${r.counts?.orphans ?? 'too many'} orphans${typeof r.maxReap === 'number' ? ` > max reap ${r.maxReap}` : ''}; nothing was touched.`);
      lines.push(`  Check the registry (\`clawbox-reaper hosts containers ${h}\`), then \`clawbox-reaper reap --host ${h} --force\`.`);
    } else if (cap.guard === 'max-reap') {
      lines.push(`${h}: capped by max-reap: ${cap.orphans} orphans of ${cap.labelled} labelled, more than the limit of ${cap.limit}; nothing was touched.`);
      lines.push(`  Check the registry first (\`clawbox-reaper hosts containers ${h}\`): are these containers really untracked?`);
      lines.push(`  Then lift the cap for this run: \`clawbox-reaper reap --host ${h} --force\`, or raise the host's cap: \`clawbox-reaper hosts add ${h} --url ${agentUrl ?? '<agent url>'} --max-reap N\`.`);
    } else if (cap.guard === 'max-reap-percent') {
      lines.push(`${h}: capped by max-reap-percent: ${cap.orphans} of ${cap.labelled} labelled containers are orphans, more than the ${cap.limit} allowed; nothing was touched.`);
      lines.push(`  The registry may have been emptied or written under the wrong host id: check \`clawbox-reaper hosts containers ${h}\`.`);
      lines.push(`  If these really are orphans, lift it for this host: \`clawbox-reaper reap --host ${h} --force\`, or raise REAPER_MAX_REAP_PERCENT.`);
    } else {
      lines.push(`${h}: capped by fleet-max-reap: the run hit REAPER_FLEET_MAX_REAP (${cap.limit} left for this host, ${cap.orphans} orphans); nothing was touched.`);
      lines.push(`  Reap the remaining hosts by name (\`clawbox-reaper reap --host ${h}\`), or raise REAPER_FLEET_MAX_REAP.`);
    }
  } else if (r.status === 'refused' && (r.errorCode === 'engine_claimed' || r.errorCode === 'engine_mismatch')) {
    lines.push(`${h}: refused (${r.errorCode}): ${r.error ?? 'the engine binding refused this host'}`);
    if (r.errorCode === 'engine_mismatch' && !(r.error ?? '').includes('hosts repin')) {
      lines.push(`  If the engine was replaced on purpose, re-pin the host: \`clawbox-reaper hosts repin ${h}\`.`);
    }
  }
  if (r.clockFlag) {
    lines.push(`${h}: warning: the agent's clock is ${formatOffset(r.clockOffsetMs ?? 0)} off the control plane's (more than 5 s): check its time sync (NTP).`);
  }
  return lines;
}

export async function runReap(api: ApiClient, options: ReapOptions): Promise<number> {
  // S4: a forced run over the whole fleet is the mass deletion the guards exist to stop (the API refuses it too).
  if (options.force && !options.host?.length) {
    throw new UsageError('--force lifts the guards only for hosts you name: add --host ID (repeatable) for each host to force');
  }
  const started = await api.startReap({
    ...(options.host?.length ? { hosts: options.host } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.now ? { now: true } : {}),
  });
  const tty = process.stderr.isTTY && !options.json;
  if (!options.json) {
    const notes = [options.dryRun ? 'dry run' : '', options.force ? 'forced' : '', options.now ? 'removing at once, no quarantine' : ''].filter(Boolean);
    process.stderr.write(`run ${started.runId} started on ${started.hosts.length} host(s)${notes.length ? ` (${notes.join(', ')})` : ''}\n`);
  }
  if (options.wait === false) {
    // The run id alone on stdout, so that `RUN=$(clawbox-reaper reap --no-wait)` works; progress stays on stderr.
    if (options.json) printJson(started);
    else {
      process.stdout.write(`${started.runId}\n`);
      process.stderr.write(`follow it with \`clawbox-reaper reports --run ${started.runId}\`\n`);
    }
    return 0;
  }

  const seen = new Set<string>();
  const deadline = Date.now() + options.timeoutMs;
  let view: RunView;
  for (;;) {
    try {
      view = await api.getRun(started.runId, { limit: 100 });
    } catch (error) {
      // On AWS a run just handed to the reaper has no report yet, and is unknown until its first one.
      if (!(error instanceof ApiError && error.code === 'run_not_found')) throw error;
      view = { runId: started.runId, done: false, reported: 0, reports: [] };
    }
    // The run view is paged: the first page says how many hosts reported over all pages, so the
    // others are read only when that grew past what was shown, and once more at the end (a
    // report may have been filled in since it was shown).
    const unseen = view.reported > seen.size || view.reports.some((r) => !seen.has(r.hostId));
    if (view.cursor !== undefined && (view.done || unseen)) view = await getWholeRun(api, started.runId, view);
    for (const report of view.reports) {
      if (seen.has(report.hostId)) continue;
      seen.add(report.hostId);
      if (options.json) continue;
      const c = report.counts;
      const quarantine = c ? `${c.quarantined ? `, ${c.quarantined} quarantined` : ''}${c.restored ? `, ${c.restored} restored` : ''}` : '';
      const line = `${report.hostId}: ${report.status}${c ? `, ${c.removed} removed of ${c.orphans} orphans${quarantine}` : ''}${report.cap ? ` [${report.cap.guard}]` : ''}${report.error ? ` (${report.error})` : ''}`;
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
  else {
    const columns = columnsFor(reports);
    process.stdout.write(table(reportHeaders(columns), reports.map((r) => reportRow(r, columns))));
    const advice = await adviceLines(api, view.runId, reports);
    if (advice.length) process.stdout.write(`\n${advice.join('\n')}\n`);
  }
  return reports.every((r) => CLEAN.has(r.status)) ? 0 : 1;
}

/** Hosts advised on one by one; beyond, the audit trail has the rest. */
export const MAX_ADVISED_HOSTS = 20;

async function adviceLines(api: ApiClient, runId: string, reports: readonly ReportSummary[]): Promise<string[]> {
  const advised = reports.filter((r) => adviceFor(r).length > 0);
  const lines: string[] = [];
  for (const r of advised.slice(0, MAX_ADVISED_HOSTS)) {
    // Raising a host's cap means re-registering it: name its agent URL so the hint can be run as is.
    let agentUrl: string | undefined;
    if (r.cap?.guard === 'max-reap') agentUrl = await api.getHost(r.hostId).then((h) => h.agentUrl, () => undefined);
    lines.push(...adviceFor(r, agentUrl));
  }
  if (advised.length > MAX_ADVISED_HOSTS) lines.push(`… and ${advised.length - MAX_ADVISED_HOSTS} more hosts: \`clawbox-reaper reports --run ${runId}\` lists every report.`);
  return lines;
}
