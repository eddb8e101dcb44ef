/** The fleet: every host with its last reap, the window's totals, charts across the fleet, and recent runs. */
import type { FC } from 'hono/jsx';
import { RANGES, bucketize, matchesStatus, isFailing, summarizeRuns, totals, totalsByHost, unregisteredShare, type StatusFilter, type TimeWindow } from '../aggregate.js';
import { BarChart } from '../charts.js';
import type { FleetData } from '../data.js';
import { ago, fleetUrl, formatInstant, hostUrl, reportUrl, runUrl, shortEngine, shortId } from '../format.js';
import { Layout, Num, RangePicker, StatusBadge, StatusFilterForm, Tile } from '../layout.js';
import { CapNote, lastReapWhy, RunsTable } from './parts.js';

export interface FleetPageProps {
  data: FleetData;
  window: TimeWindow;
  status: StatusFilter | undefined;
  nowMs: number;
  signedIn: boolean;
}

/**
 * Rows of the hosts table at most, so the page stays a few MB on any fleet (the tiles count every
 * host); the status filter narrows it to the failing ones.
 */
export const MAX_FLEET_ROWS = 1000;

/** Longest reason shown in a fleet row; the whole one is in its tooltip and on the host page. */
const MAX_WHY_CHARS = 240;

/** Hosts no longer registered named one by one in the note, at most. */
const MAX_GONE_NAMED = 20;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export const FleetPage: FC<FleetPageProps> = ({ data, window, status, nowMs, signedIn }) => {
  const reports = data.reports.items;
  const byRun = new Map(reports.map((r) => [`${r.hostId}#${r.runId}`, r]));
  const reportOf = (hostId: string, runId: string) => byRun.get(`${hostId}#${runId}`);
  const sum = totals(reports);
  const byHost = totalsByHost(reports);
  const buckets = bucketize(reports, window);
  const per = RANGES[window.range].per;
  const filters = { range: window.range, status };
  const failingNow = data.hosts.filter((h) => h.lastReap !== undefined && isFailing(h.lastReap.status));
  const shown = data.hosts.filter((h) => status === undefined || (h.lastReap !== undefined && matchesStatus(h.lastReap.status, status)));
  const runs = summarizeRuns(reports).slice(0, 15);
  const groupTitle = (start: number) => `${formatInstant(start)} + ${per}`;
  // Hosts whose item cannot be read are still registered: their reports are not "of removed hosts".
  const registered = new Set([...data.hosts.map((h) => h.hostId), ...data.invalid.flatMap((i) => (i.hostId === undefined ? [] : [i.hostId]))]);
  const gone = unregisteredShare(reports, registered);
  const goneDetail = (n: number) => (n > 0 ? `incl. ${n} of hosts no longer registered` : undefined);

  return (
    <Layout title="Fleet" signedIn={signedIn}>
      <h1>Fleet</h1>
      <p class="sub">
        {`${data.hosts.length} host${data.hosts.length === 1 ? '' : 's'} registered · reports of runs started in the last ${window.range} (since ${formatInstant(window.since)})`}
      </p>
      <div class="toolbar">
        <RangePicker current={window.range} href={(range) => fleetUrl({ ...filters, range })} />
        <StatusFilterForm action={fleetUrl()} range={window.range} status={status} label="Hosts whose last reap is" />
      </div>
      <CapNote capped={data.reports.capped} count={reports.length} />
      {data.invalid.length ? (
        <div class="note bad" id="invalid-hosts">
          <strong>{`${data.invalid.length} host item${data.invalid.length === 1 ? '' : 's'} cannot be read`}</strong>
          {' (each gets an error report on every run): '}
          {data.invalid.map((i) => `${i.hostId ?? '(no id)'}: ${i.problem}`).join('; ')}
        </div>
      ) : null}

      <div class="tiles">
        <Tile id="tile-hosts" label="hosts enabled" value={`${data.hosts.filter((h) => h.enabled).length} / ${data.hosts.length}`} />
        <Tile id="tile-failing-hosts" label="hosts failing now" value={String(failingNow.length)} bad={failingNow.length > 0} />
        <Tile id="tile-runs" label={`runs in ${window.range}`} value={String(sum.runs)} />
        <Tile id="tile-removed" label={`removed in ${window.range}`} value={String(sum.removed)} detail={goneDetail(gone.totals.removed)} />
        <Tile id="tile-failed" label={`failed removals in ${window.range}`} value={String(sum.failed)} bad={sum.failed > 0} detail={goneDetail(gone.totals.failed)} />
        <Tile id="tile-failing-reports" label={`failing host reports in ${window.range}`} value={String(sum.failingReports)} bad={sum.failingReports > 0} detail={goneDetail(gone.totals.failingReports)} />
      </div>
      {gone.hosts.length ? (
        <p class="note" id="unregistered-note">
          {`${plural(gone.totals.reports, 'host report')} of the ${reports.length} in ${window.range} belong to ${gone.hosts.length === 1 ? 'a host' : `${gone.hosts.length} hosts`} no longer registered: `}
          {gone.hosts.slice(0, MAX_GONE_NAMED).map(({ hostId, totals: t }, i) => (
            <>
              {i ? '; ' : ''}
              <a href={hostUrl(hostId, { range: window.range })} data-gone-host={hostId}>
                {hostId}
              </a>
              {` (${plural(t.reports, 'report')}, ${t.removed} removed, ${t.failed} failed)`}
            </>
          ))}
          {gone.hosts.length > MAX_GONE_NAMED ? ` and ${gone.hosts.length - MAX_GONE_NAMED} more` : ''}
          {'. The totals, charts and recent runs on this page count them (what was removed stays removed); the hosts table lists registered hosts only.'}
        </p>
      ) : null}

      <h2 id="hosts">Hosts</h2>
      {shown.length === 0 ? (
        <p class="empty-state">{data.hosts.length === 0 ? 'No host is registered yet.' : 'No host matches this filter.'}</p>
      ) : (
        <table id="hosts-table">
          <thead>
            <tr class="group">
              <th colspan={3}></th>
              <th colspan={4}>last reap: containers</th>
              <th colspan={4}>{`in ${window.range}`}</th>
            </tr>
            <tr>
              <th scope="col">host</th>
              <th scope="col">last reap</th>
              <th scope="col">when</th>
              <th class="n" scope="col">labelled</th>
              <th class="n" scope="col">orphans</th>
              <th class="n" scope="col">removed</th>
              <th class="n" scope="col">failed</th>
              <th class="n" scope="col">runs</th>
              <th class="n" scope="col">removed</th>
              <th class="n" scope="col">failed</th>
              <th class="n" scope="col">failing reports</th>
            </tr>
          </thead>
          <tbody>
            {shown.slice(0, MAX_FLEET_ROWS).map((host) => {
              const last = host.lastReap;
              const inRange = byHost.get(host.hostId);
              const failing = last !== undefined && isFailing(last.status);
              const why = lastReapWhy(host, reportOf);
              return (
                <tr class={failing ? 'failing' : ''} data-host={host.hostId}>
                  <td>
                    <a href={hostUrl(host.hostId, { range: window.range })}>
                      <strong>{host.hostId}</strong>
                    </a>
                    {host.enabled ? null : <span class="badge none"> disabled</span>}
                    <small class="muted mono">{host.agentUrl}</small>
                    {host.engineId === undefined ? (
                      <small class="muted engine" data-engine="">
                        engine: unpinned
                      </small>
                    ) : (
                      <small class="muted mono engine" data-engine={host.engineId} title={host.engineId}>
                        {`engine ${shortEngine(host.engineId)}`}
                      </small>
                    )}
                  </td>
                  <td>
                    {last ? (
                      <a href={reportUrl(host.hostId, last.runId, { range: window.range })} title={`report of run ${last.runId}`}>
                        <StatusBadge status={last.status} />
                      </a>
                    ) : (
                      <StatusBadge status={undefined} />
                    )}
                    {why === undefined ? null : (
                      <small class="why" title={why}>
                        {clip(why, MAX_WHY_CHARS)}
                      </small>
                    )}
                  </td>
                  <td class="when">
                    {last ? (
                      <>
                        {last.quiet === true ? 'quiet since ' : ''}
                        {ago(last.at, nowMs)}
                        <small>{formatInstant(last.at)}</small>
                        <small>
                          {'run '}
                          <a class="mono" href={runUrl(last.runId, { range: window.range })} title={last.runId}>
                            {shortId(last.runId)}
                          </a>
                        </small>
                      </>
                    ) : (
                      '–'
                    )}
                  </td>
                  <Num value={last?.counts?.labelled} />
                  <Num value={last?.counts?.orphans} />
                  <Num value={last?.counts?.removed} />
                  <Num value={last?.counts?.failed} bad />
                  <Num value={inRange?.runs ?? 0} />
                  <Num value={inRange?.removed ?? 0} />
                  <Num value={inRange?.failed ?? 0} bad />
                  <Num value={inRange?.failingReports ?? 0} bad />
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {shown.length > MAX_FLEET_ROWS ? (
        <p class="sub" id="fleet-rows-note">{`The first ${MAX_FLEET_ROWS} of ${shown.length} hosts are listed; filter by status to see the failing ones.`}</p>
      ) : null}

      <h2>Across the fleet</h2>
      <BarChart
        title={`Containers removed and failed, per ${per}`}
        unit="containers"
        mode="stacked"
        series={[
          { label: 'removed', className: 's-removed' },
          { label: 'failed', className: 's-failed' },
        ]}
        groups={buckets.map((b) => ({ at: b.start, title: groupTitle(b.start), values: [b.removed, b.failed] }))}
      />
      <BarChart
        title={`Host reports per ${per}: fine and failing`}
        unit="reports"
        mode="stacked"
        series={[
          { label: 'fine', className: 's-ok' },
          { label: 'failing', className: 's-failed' },
        ]}
        groups={buckets.map((b) => ({ at: b.start, title: groupTitle(b.start), values: [b.reports - b.failingReports, b.failingReports] }))}
      />

      <h2 id="runs">Recent runs</h2>
      <RunsTable runs={runs} range={window.range} nowMs={nowMs} />
    </Layout>
  );
};
