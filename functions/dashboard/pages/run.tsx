/** One run: every host's report of it, with the run's totals. */
import type { FC } from 'hono/jsx';
import { isFailing, totals, type RangeKey } from '../aggregate.js';
import { ago, fleetUrl, formatDuration, formatInstant, hostUrl, reportProblem, reportUrl } from '../format.js';
import { Layout, Num, StatusBadge, Tile } from '../layout.js';
import type { ReportSummary } from '../../store/schemas.js';

export interface RunPageProps {
  runId: string;
  reports: ReportSummary[];
  range: RangeKey;
  nowMs: number;
  signedIn: boolean;
}

/**
 * Rows of the hosts table at most, so the page stays a few MB whatever the fleet's size (the
 * tiles still total every host). Beyond it, failing hosts are listed first.
 */
export const MAX_RUN_ROWS = 1000;

export const RunPage: FC<RunPageProps> = ({ runId, reports, range, nowMs, signedIn }) => {
  const sum = totals(reports);
  const first = reports[0];
  const startedAt = reports.reduce((min, r) => (r.startedAt < min ? r.startedAt : min), first?.startedAt ?? '');
  const declared = reports.find((r) => r.runHosts !== undefined)?.runHosts;
  const failing = reports.filter((r) => isFailing(r.status));
  const rows = reports.length <= MAX_RUN_ROWS ? reports : [...failing, ...reports.filter((r) => !isFailing(r.status))].slice(0, MAX_RUN_ROWS);
  return (
    <Layout title={`Run ${runId}`} signedIn={signedIn}>
      <p class="crumbs">
        <a href={fleetUrl({ range })}>Fleet</a>
        {' / run'}
      </p>
      <h1 class="mono">{runId}</h1>
      <p class="sub">
        {`Started ${formatInstant(startedAt)} (${ago(startedAt, nowMs)}) · trigger ${first?.trigger ?? '?'}${first?.dryRun ? ' · dry run' : ''}${first?.force ? ' · forced (guards lifted)' : ''}`}
        {declared !== undefined && declared > reports.length ? ` · ${reports.length} of ${declared} hosts have reported so far` : ''}
      </p>
      <div class="tiles">
        <Tile id="tile-hosts" label="host reports" value={String(reports.length)} />
        <Tile id="tile-failing-hosts" label="hosts failing" value={String(failing.length)} bad={failing.length > 0} />
        <Tile id="tile-found" label="orphans found" value={String(sum.found)} />
        <Tile id="tile-removed" label="removed" value={String(sum.removed)} />
        <Tile id="tile-failed" label="failed removals" value={String(sum.failed)} bad={sum.failed > 0} />
      </div>
      <h2>Hosts</h2>
      <table id="run-table">
        <thead>
          <tr>
            <th scope="col">host</th>
            <th scope="col">status</th>
            <th class="n" scope="col">labelled</th>
            <th class="n" scope="col">tracked</th>
            <th class="n" scope="col">orphans</th>
            <th class="n" scope="col">young</th>
            <th class="n" scope="col">removed</th>
            <th class="n" scope="col">failed</th>
            <th class="n" scope="col">took</th>
            <th scope="col">error</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr class={isFailing(r.status) ? 'failing' : ''} data-host={r.hostId}>
              <td>
                <a href={hostUrl(r.hostId, { range })}>
                  <strong>{r.hostId}</strong>
                </a>
              </td>
              <td>
                <a href={reportUrl(r.hostId, r.runId, { range })} title="this host's report">
                  <StatusBadge status={r.status} />
                </a>
              </td>
              <Num value={r.counts?.labelled} />
              <Num value={r.counts?.tracked} />
              <Num value={r.counts?.orphans} />
              <Num value={r.counts?.young} />
              <Num value={r.counts?.removed} />
              <Num value={r.counts?.failed} bad />
              <td class="n">{formatDuration(r.durationMs)}</td>
              <td class="err">{reportProblem(r)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length < reports.length ? (
        <p class="sub" id="run-rows-note">{`${rows.length} of ${reports.length} hosts are listed (failing ones first); GET /v1/reaps/${runId} pages through all of them.`}</p>
      ) : null}
    </Layout>
  );
};
