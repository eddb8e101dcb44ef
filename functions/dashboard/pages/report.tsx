/** One host's report of one run: what was sent, what the agent counted, and every container with its action and error. */
import type { FC } from 'hono/jsx';
import type { RangeKey } from '../aggregate.js';
import { ago, fleetUrl, formatDuration, formatInstant, hostUrl, reportProblem, runUrl } from '../format.js';
import { Layout, StatusBadge } from '../layout.js';
import type { ReportItem } from '../../store/schemas.js';

const COUNT_NAMES = ['labelled', 'tracked', 'orphans', 'young', 'stopped', 'removed', 'vanished', 'failed'] as const;
const ACTION_CLASS: Record<string, string> = { removed: 'good', 'would-remove': 'dry', 'skipped-young': 'none', vanished: 'none', failed: 'bad' };
const ACTION_SYMBOL: Record<string, string> = { removed: '✓', 'would-remove': '○', 'skipped-young': '–', vanished: '–', failed: '✕' };

export const ReportPage: FC<{ report: ReportItem; range: RangeKey; nowMs: number; signedIn: boolean }> = ({ report: r, range, nowMs, signedIn }) => (
  <Layout title={`Report ${r.hostId}`} signedIn={signedIn}>
    <p class="crumbs">
      <a href={fleetUrl({ range })}>Fleet</a>
      {' / '}
      <a href={hostUrl(r.hostId, { range })}>{r.hostId}</a>
      {' / report'}
    </p>
    <h1>
      {`${r.hostId} `}
      <StatusBadge status={r.status} />
    </h1>
    <p class="sub">
      {'Run '}
      <a class="mono" id="run-link" href={runUrl(r.runId, { range })}>
        {r.runId}
      </a>
      {` · started ${formatInstant(r.startedAt)} (${ago(r.startedAt, nowMs)})`}
    </p>
    {reportProblem(r) ? (
      <p class="note bad" id="report-error">
        <strong>{r.error !== undefined ? 'Error: ' : 'Note: '}</strong>
        {reportProblem(r)}
      </p>
    ) : null}
    <dl class="meta" id="report-meta">
      <dt>trigger</dt>
      <dd>{`${r.trigger}${r.dryRun ? ', dry run (nothing touched)' : ''}${r.force ? ', forced (maxReap lifted)' : ''}`}</dd>
      <dt>snapshot</dt>
      <dd>{r.snapshotAt === undefined ? 'none (the host was never commanded)' : formatInstant(r.snapshotAt)}</dd>
      <dt>finished</dt>
      <dd>{`${formatInstant(r.finishedAt)} · took ${formatDuration(r.durationMs)}${r.agent ? ` (agent ${formatDuration(r.agent.durationMs)})` : ''}`}</dd>
      <dt>max reap</dt>
      <dd>{r.maxReap === undefined ? '–' : r.maxReap === null ? 'lifted (force)' : String(r.maxReap)}</dd>
      <dt>tracked sent</dt>
      <dd>{r.trackedSent === undefined ? '–' : String(r.trackedSent)}</dd>
      <dt>agent calls</dt>
      <dd>{String(r.attempts)}</dd>
    </dl>

    <h2>Counts</h2>
    {r.counts ? (
      <table id="counts-table" class="counts">
        <thead>
          <tr>
            {COUNT_NAMES.map((name) => (
              <th class="n" scope="col">
                {name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            {COUNT_NAMES.map((name) => (
              <td class={`n${r.counts?.[name] === 0 ? ' zero' : name === 'failed' ? ' bad' : ''}`} data-count={name}>
                {String(r.counts?.[name] ?? 0)}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
    ) : (
      <p class="empty-state">The agent gave no answer, so there are no counts.</p>
    )}

    <h2>{`Containers (${r.containersTotal})`}</h2>
    {r.truncated ? <p class="note">{`The agent reported ${r.containersTotal} entries; ${r.containers.length} are kept in the audit trail (failed and removed first). The counts above are complete.`}</p> : null}
    {r.containers.length === 0 ? (
      <p class="empty-state">No orphan and no young untracked container (tracked containers are not listed).</p>
    ) : (
      <table id="containers-table">
        <thead>
          <tr>
            <th scope="col">container id (label)</th>
            <th scope="col">docker id</th>
            <th scope="col">state</th>
            <th scope="col">created</th>
            <th scope="col">action</th>
            <th scope="col">error</th>
          </tr>
        </thead>
        <tbody>
          {r.containers.map((c) => (
            <tr class={c.action === 'failed' ? 'failing' : ''} data-container={c.clawboxId}>
              <td class="mono">{c.clawboxId}</td>
              <td class="mono" title={c.dockerId}>
                {c.dockerId.slice(0, 12)}
              </td>
              <td>{c.state}</td>
              <td class="when">{formatInstant(c.createdAt)}</td>
              <td>
                <span class={`badge ${ACTION_CLASS[c.action] ?? 'none'}`}>{`${ACTION_SYMBOL[c.action] ?? ''} ${c.action}`}</span>
              </td>
              <td class="err">{c.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </Layout>
);
