/** Pieces shared by several pages. */
import type { FC } from 'hono/jsx';
import { isFailing, type RangeKey, type RunSummary } from '../aggregate.js';
import { ago, formatInstant, hostUrl, reportProblem, runUrl, shortId } from '../format.js';
import type { Host, ReportSummary } from '../../store/schemas.js';
import { Num } from '../layout.js';
import { MAX_DASHBOARD_REPORTS } from '../data.js';

/**
 * Why a host's last reap went wrong, in a line: the error the control plane recorded (with its
 * code, e.g. engine_mismatch), or for a capped one the guard that fired (from the run's report,
 * when it is among the reports read for the page).
 */
export function lastReapWhy(host: Host, reportOf: (hostId: string, runId: string) => ReportSummary | undefined): string | undefined {
  const last = host.lastReap;
  if (last === undefined || !isFailing(last.status)) return undefined;
  const code = last.errorCode === undefined ? '' : `${last.errorCode}: `;
  if (last.error !== undefined) return `${code}${last.error}`;
  if (last.status === 'capped') {
    const report = reportOf(host.hostId, last.runId);
    if (report !== undefined) return reportProblem(report);
    return `capped: ${last.counts?.orphans ?? 'too many'} orphans; nothing was touched (the report says which guard fired)`;
  }
  return last.errorCode;
}

/** Said whenever a page's sums leave reports out. */
export const CapNote: FC<{ capped: boolean; count: number }> = ({ capped, count }) =>
  capped ? (
    <p class="note" id="cap-note">
      {`This range holds more than ${MAX_DASHBOARD_REPORTS} reports: only the newest ${count} are counted and charted here. Pick a shorter range for complete numbers.`}
    </p>
  ) : null;

export const RunsTable: FC<{ runs: RunSummary[]; range: RangeKey; nowMs: number }> = ({ runs, range, nowMs }) =>
  runs.length === 0 ? (
    <p class="empty-state">No run in this range.</p>
  ) : (
    <table id="runs-table">
      <thead>
        <tr>
          <th scope="col">run</th>
          <th scope="col">started</th>
          <th scope="col">trigger</th>
          <th class="n" scope="col">hosts</th>
          <th class="n" scope="col">orphans</th>
          <th class="n" scope="col">removed</th>
          <th class="n" scope="col">failed</th>
          <th scope="col">failing hosts</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr class={run.failingHosts.length ? 'failing' : ''} data-run={run.runId}>
            <td>
              <a class="mono" href={runUrl(run.runId, { range })} title={run.runId}>
                {shortId(run.runId)}
              </a>
            </td>
            <td class="when">
              {ago(run.startedAt, nowMs)}
              <small>{formatInstant(run.startedAt)}</small>
            </td>
            <td>{run.dryRun ? `${run.trigger}, dry run` : run.trigger}</td>
            <Num value={run.hosts} />
            <Num value={run.found} />
            <Num value={run.removed} />
            <Num value={run.failed} bad />
            <td>
              {run.failingHosts.length === 0
                ? '–'
                : run.failingHosts.slice(0, 6).map((hostId, i) => (
                    <>
                      {i ? ', ' : ''}
                      <a href={hostUrl(hostId, { range })}>{hostId}</a>
                    </>
                  ))}
              {run.failingHosts.length > 6 ? ` and ${run.failingHosts.length - 6} more` : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
