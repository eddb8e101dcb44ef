/** One host: its settings and last reap, its runs over time as a chart, its tracked containers, its filtered reports. */
import type { FC } from 'hono/jsx';
import { RANGES, bucketize, matchesStatus, totals, type StatusFilter, type TimeWindow } from '../aggregate.js';
import { BarChart, type ChartGroup } from '../charts.js';
import type { HostData } from '../data.js';
import { MAX_TRACKED_SHOWN } from '../data.js';
import { ago, CLOCK_FLAG_MS, fleetUrl, formatDuration, formatInstant, formatOffset, hostUrl, reportProblem, reportUrl, runUrl, shortId } from '../format.js';
import { Layout, Num, RangePicker, StatusBadge, StatusFilterForm, Tile } from '../layout.js';
import { CapNote, lastReapWhy } from './parts.js';
import type { ReportSummary } from '../../store/schemas.js';

/** Up to this many runs in the range, the chart has one group of bars per run; beyond, per time bucket. */
export const MAX_RUNS_CHARTED_ONE_BY_ONE = 48;
/** Rows of the report list. */
export const MAX_REPORT_ROWS = 200;

export interface HostPageProps {
  hostId: string;
  data: HostData;
  window: TimeWindow;
  status: StatusFilter | undefined;
  nowMs: number;
  signedIn: boolean;
}

/** The host chart's groups: one per run (oldest first) while there are few, else one per bucket. */
export function hostChartGroups(reports: readonly ReportSummary[], window: TimeWindow): { groups: ChartGroup[]; perRun: boolean } {
  if (reports.length <= MAX_RUNS_CHARTED_ONE_BY_ONE) {
    const groups = [...reports].reverse().map((r) => ({
      at: Date.parse(r.startedAt),
      title: `${formatInstant(r.startedAt)} (run ${shortId(r.runId)}, ${r.status})`,
      values: [r.counts?.orphans ?? 0, r.counts?.removed ?? 0, r.counts?.failed ?? 0],
    }));
    return { groups, perRun: true };
  }
  const groups = bucketize(reports, window).map((b) => ({
    at: b.start,
    title: `${formatInstant(b.start)} + ${RANGES[window.range].per}`,
    values: [b.found, b.removed, b.failed],
  }));
  return { groups, perRun: false };
}

export const HostPage: FC<HostPageProps> = ({ hostId, data, window, status, nowMs, signedIn }) => {
  const { host } = data;
  const reports = data.reports.items;
  const sum = totals(reports);
  const listed = reports.filter((r) => matchesStatus(r.status, status));
  const chart = hostChartGroups(reports, window);
  const filters = { range: window.range, status };
  const last = host?.lastReap;
  const why = host === undefined ? undefined : lastReapWhy(host, (h, runId) => reports.find((r) => r.hostId === h && r.runId === runId));
  const clockOff = last?.clockOffsetMs !== undefined && Math.abs(last.clockOffsetMs) > CLOCK_FLAG_MS;

  return (
    <Layout title={`Host ${hostId}`} signedIn={signedIn}>
      <p class="crumbs">
        <a href={fleetUrl({ range: window.range })}>Fleet</a>
        {' / host'}
      </p>
      <h1>{hostId}</h1>
      {host ? (
        <dl class="meta" id="host-meta">
          <dt>agent</dt>
          <dd class="mono">{host.agentUrl}</dd>
          <dt>enabled</dt>
          <dd>{host.enabled ? 'yes' : 'no (never reaped)'}</dd>
          <dt>max reap</dt>
          <dd>{host.maxReap === undefined ? 'the default (REAPER_MAX_REAP)' : String(host.maxReap)}</dd>
          <dt>engine</dt>
          {host.engineId === undefined ? (
            <dd id="host-engine">unpinned: the next run pins it to the engine its agent reports</dd>
          ) : (
            <dd id="host-engine">
              <span class="mono" data-engine={host.engineId}>
                {host.engineId}
              </span>
              {host.enginePinnedAt === undefined ? null : <small class="muted" id="host-pinned">{`pinned ${formatInstant(host.enginePinnedAt)} (${ago(host.enginePinnedAt, nowMs)}); re-pin with clawbox-reaper hosts repin ${hostId} if the engine was replaced on purpose`}</small>}
            </dd>
          )}
          <dt>last reap</dt>
          <dd>
            {last ? (
              <>
                <a href={reportUrl(hostId, last.runId, { range: window.range })}>
                  <StatusBadge status={last.status} />
                </a>
                {` ${last.quiet === true ? 'quiet since ' : ''}${ago(last.at, nowMs)} · ${formatInstant(last.at)} · run `}
                <a class="mono" href={runUrl(last.runId, { range: window.range })} title={last.runId}>
                  {shortId(last.runId)}
                </a>
              </>
            ) : (
              <StatusBadge status={undefined} />
            )}
            {why === undefined ? null : (
              <small class="why" id="host-why">
                {why}
              </small>
            )}
          </dd>
          {last?.clockOffsetMs === undefined ? null : (
            <>
              <dt>agent clock</dt>
              <dd id="host-clock" class={clockOff ? 'bad-text' : ''}>
                {`${formatOffset(last.clockOffsetMs)} off the control plane's${clockOff ? ` (more than ${CLOCK_FLAG_MS / 1000} s: check the host's time sync)` : ''}`}
              </dd>
            </>
          )}
          <dt>registered</dt>
          <dd>{formatInstant(host.createdAt)}</dd>
        </dl>
      ) : (
        <p class="note" id="not-registered">
          This host is not registered (any more). Its reports are shown until they expire; the reaper does not contact it.
        </p>
      )}

      <div class="toolbar">
        <RangePicker current={window.range} href={(range) => hostUrl(hostId, { ...filters, range })} />
      </div>
      <CapNote capped={data.reports.capped} count={reports.length} />
      <div class="tiles">
        <Tile id="tile-runs" label={`runs in ${window.range}`} value={String(sum.runs)} />
        <Tile id="tile-found" label="orphans found" value={String(sum.found)} />
        <Tile id="tile-removed" label="removed" value={String(sum.removed)} />
        <Tile id="tile-failed" label="failed removals" value={String(sum.failed)} bad={sum.failed > 0} />
        <Tile id="tile-failing-reports" label="failing reports" value={String(sum.failingReports)} bad={sum.failingReports > 0} />
      </div>

      <BarChart
        title={chart.perRun ? 'Orphans found, removed and failed, per run' : `Orphans found, removed and failed, per ${RANGES[window.range].per}`}
        unit="containers"
        mode="grouped"
        series={[
          { label: 'orphans found', className: 's-found' },
          { label: 'removed', className: 's-removed' },
          { label: 'failed', className: 's-failed' },
        ]}
        groups={chart.groups}
      />

      <h2 id="tracked">{`Tracked containers (${data.tracked.items.length}${data.tracked.more ? '+' : ''})`}</h2>
      {data.tracked.more ? <p class="note">{`Only the first ${MAX_TRACKED_SHOWN} tracked containers (by id) are listed.`}</p> : null}
      {data.tracked.items.length === 0 ? (
        <p class="empty-state">Nothing is tracked on this host: every labelled container older than the grace is an orphan.</p>
      ) : (
        <table id="tracked-table">
          <thead>
            <tr>
              <th scope="col">container id (label)</th>
              <th scope="col">docker id</th>
              <th scope="col">owner</th>
              <th scope="col">lease</th>
              <th scope="col">tracked since</th>
            </tr>
          </thead>
          <tbody>
            {data.tracked.items.map((t) => {
              const lease = t.leaseExpiresAt === undefined ? undefined : t.leaseExpiresAt * 1000;
              const expired = lease !== undefined && lease < nowMs;
              return (
                <tr class={expired ? 'failing' : ''}>
                  <td class="mono">{t.containerId}</td>
                  <td class="mono">{t.dockerId === undefined ? 'any' : t.dockerId.slice(0, 12)}</td>
                  <td>{t.owner ?? '–'}</td>
                  <td class="when">
                    {lease === undefined ? 'none (protects until untracked)' : expired ? `expired ${ago(new Date(lease).toISOString(), nowMs)}` : `ends ${ago(new Date(lease).toISOString(), nowMs)}`}
                    {lease === undefined ? null : <small>{formatInstant(lease)}</small>}
                  </td>
                  <td class="when">{formatInstant(t.createdAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h2 id="reports">{`Reports (${listed.length}${status ? ` ${status}` : ''} of ${reports.length} in ${window.range})`}</h2>
      <div class="toolbar">
        <StatusFilterForm action={hostUrl(hostId)} range={window.range} status={status} label="Status" />
      </div>
      {listed.length === 0 ? (
        <p class="empty-state">No report matches.</p>
      ) : (
        <table id="reports-table">
          <thead>
            <tr>
              <th scope="col">started</th>
              <th scope="col">status</th>
              <th scope="col">run</th>
              <th scope="col">trigger</th>
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
            {listed.slice(0, MAX_REPORT_ROWS).map((r) => (
              <tr class={matchesStatus(r.status, 'failing') ? 'failing' : ''} data-run={r.runId}>
                <td class="when">
                  <a href={reportUrl(hostId, r.runId, { range: window.range })}>{formatInstant(r.startedAt)}</a>
                  <small>{ago(r.startedAt, nowMs)}</small>
                </td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>
                  <a class="mono" href={runUrl(r.runId, { range: window.range })} title={r.runId}>
                    {shortId(r.runId)}
                  </a>
                </td>
                <td>{r.dryRun ? `${r.trigger}, dry run` : r.trigger}</td>
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
      )}
      {listed.length > MAX_REPORT_ROWS ? <p class="sub">{`The newest ${MAX_REPORT_ROWS} of ${listed.length} are listed; narrow the range or the status to see the others.`}</p> : null}

    </Layout>
  );
};
