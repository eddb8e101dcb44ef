/**
 * One host's report of one run: what was sent, what the agent counted, every container with its
 * action, error and forensic record, and the labelled networks and volumes it judged.
 */
import type { FC } from 'hono/jsx';
import type { RangeKey } from '../aggregate.js';
import { ago, capAdvice, CLOCK_FLAG_MS, fleetUrl, formatDuration, formatInstant, formatOffset, hostUrl, removalText, reportProblem, runUrl } from '../format.js';
import { Layout, StatusBadge } from '../layout.js';
import type { ContainerReport, ForensicRecord } from '../../../lib/agent-contract.js';
import type { ReportItem } from '../../store/schemas.js';

const COUNT_NAMES = ['labelled', 'tracked', 'orphans', 'young', 'stopped', 'removed', 'vanished', 'failed'] as const;
/** S11's counts: shown when the agent sent them (agents before quarantine do not). */
const QUARANTINE_COUNTS = ['quarantined', 'restored'] as const;
/** SPEC §9's counts: shown when the agent sent them (when the engine holds labelled networks or volumes). */
const RESOURCE_COUNTS = ['networksRemoved', 'volumesRemoved', 'resourcesFailed'] as const;
const RESOURCE_CLASS: Record<string, string> = { removed: 'good', 'would-remove': 'dry', 'skipped-young': 'none', 'in-use': 'none', vanished: 'none', failed: 'bad' };
const ACTION_CLASS: Record<string, string> = {
  removed: 'good',
  'would-remove': 'dry',
  'skipped-young': 'none',
  vanished: 'none',
  failed: 'bad',
  quarantined: 'quar',
  'would-quarantine': 'dry',
  restored: 'good',
  'would-restore': 'dry',
};
const ACTION_SYMBOL: Record<string, string> = {
  removed: '✓',
  'would-remove': '○',
  'skipped-young': '–',
  vanished: '–',
  failed: '✕',
  quarantined: '‖',
  'would-quarantine': '○',
  restored: '↺',
  'would-restore': '○',
};

/** A container's quarantine (S11): since when, paused or left as it was, and when it is removed. */
const QuarantineCell: FC<{ c: ContainerReport; nowMs: number }> = ({ c, nowMs }) => {
  if (c.quarantinedAt === undefined && c.removeAfter === undefined) return <td class="when">–</td>;
  return (
    <td class="when quarantine">
      {c.removeAfter === undefined ? null : <span class="removal">{removalText(c.removeAfter, nowMs)}</span>}
      {c.quarantinedAt === undefined ? null : <small>{`quarantined since ${formatInstant(c.quarantinedAt)}`}</small>}
      {c.paused === undefined ? null : <small>{c.paused ? 'paused (frozen, nothing lost)' : 'not running: left as it was'}</small>}
    </td>
  );
};

/**
 * An orphan's forensic record (SPEC §9), folded: what it ran and the last lines of its logs, as
 * the agent redacted them. Everything in it is the container's own text, escaped like any other.
 */
const RecordRow: FC<{ c: ContainerReport; record: ForensicRecord }> = ({ c, record }) => (
  <tr class="record" data-record={c.clawboxId}>
    <td colspan={7}>
      <details>
        <summary>{`forensic record of ${c.clawboxId}${record.note === undefined ? '' : ' (incomplete)'}`}</summary>
        <dl class="meta">
          <dt>image</dt>
          <dd class="mono">{record.image}</dd>
          <dt>command</dt>
          <dd class="mono" data-field="command">
            {record.command.length ? record.command.join(' ') : '–'}
          </dd>
          <dt>created</dt>
          <dd>{record.createdAt === undefined ? '–' : formatInstant(record.createdAt)}</dd>
          <dt>started</dt>
          <dd>{record.startedAt === undefined ? '–' : formatInstant(record.startedAt)}</dd>
          <dt>finished</dt>
          <dd>{record.finishedAt === undefined ? '– (still running when recorded)' : formatInstant(record.finishedAt)}</dd>
          <dt>exit code</dt>
          <dd data-field="exit-code">{record.exitCode === undefined ? '–' : String(record.exitCode)}</dd>
          <dt>restarts</dt>
          <dd>{record.restartCount === undefined ? '–' : String(record.restartCount)}</dd>
          {record.note === undefined ? null : (
            <>
              <dt>note</dt>
              <dd class="muted">{record.note}</dd>
            </>
          )}
        </dl>
        {record.logs === undefined ? null : (
          <>
            <small class="muted">{`last lines of its logs, secrets redacted${record.logsTruncated ? ' (older lines left out)' : ''}`}</small>
            <pre class="mono" data-field="logs" style="white-space:pre-wrap;word-break:break-word;max-height:24em;overflow:auto;margin:4px 0 8px">
              {record.logs}
            </pre>
          </>
        )}
      </details>
    </td>
  </tr>
);

export const ReportPage: FC<{ report: ReportItem; range: RangeKey; nowMs: number; signedIn: boolean }> = ({ report: r, range, nowMs, signedIn }) => {
  const counts = [...COUNT_NAMES, ...QUARANTINE_COUNTS.filter((name) => r.counts?.[name] !== undefined), ...RESOURCE_COUNTS.filter((name) => r.counts?.[name] !== undefined)];
  return (
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
          {r.errorCode === undefined ? null : <span class="mono">{`${r.errorCode} · `}</span>}
          {reportProblem(r)}
          {r.cap === undefined || r.status !== 'capped' ? null : <small class="muted" id="cap-advice">{capAdvice(r.cap, r.hostId)}</small>}
        </p>
      ) : null}
      <dl class="meta" id="report-meta">
        <dt>trigger</dt>
        <dd>{`${r.trigger}${r.dryRun ? ', dry run (nothing touched)' : ''}${r.force ? ', forced (guards lifted)' : ''}`}</dd>
        <dt>snapshot</dt>
        <dd>{r.snapshotAt === undefined ? 'none (the host was never commanded)' : formatInstant(r.snapshotAt)}</dd>
        <dt>finished</dt>
        <dd>{`${formatInstant(r.finishedAt)} · took ${formatDuration(r.durationMs)}${r.agent ? ` (agent ${formatDuration(r.agent.durationMs)})` : ''}`}</dd>
        <dt>max reap</dt>
        <dd>{r.maxReap === undefined ? '–' : r.maxReap === null ? 'lifted (force)' : String(r.maxReap)}</dd>
        {r.cap === undefined ? null : (
          <>
            <dt>cap</dt>
            <dd id="report-cap">
              {'guard '}
              <strong data-cap="guard">{r.cap.guard}</strong>
              {r.cap.kind === undefined ? null : <span data-cap="kind">{` on ${r.cap.kind}`}</span>}
              {' · limit '}
              <span data-cap="limit">{String(r.cap.limit)}</span>
              {' · orphans '}
              <span data-cap="orphans">{String(r.cap.orphans)}</span>
              {' · labelled '}
              <span data-cap="labelled">{String(r.cap.labelled)}</span>
            </dd>
          </>
        )}
        <dt>engine</dt>
        <dd class="mono" id="report-engine">
          {r.engineId ?? '–'}
        </dd>
        <dt>agent clock</dt>
        {r.clockOffsetMs === undefined ? (
          <dd id="report-clock">–</dd>
        ) : (
          <dd id="report-clock" class={r.clockFlag ? 'bad-text' : ''} data-flag={r.clockFlag ? 'true' : 'false'}>
            {`${formatOffset(r.clockOffsetMs)} off the control plane's${r.clockFlag ? ` (more than ${CLOCK_FLAG_MS / 1000} s: check the host's time sync)` : ''}`}
          </dd>
        )}
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
              {counts.map((name) => (
                <th class="n" scope="col">
                  {name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              {counts.map((name) => (
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
              <th scope="col">quarantine</th>
              <th scope="col">error</th>
            </tr>
          </thead>
          <tbody>
            {r.containers.map((c) => (
              <>
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
                  <QuarantineCell c={c} nowMs={nowMs} />
                  <td class="err">{c.error ?? ''}</td>
                </tr>
                {c.record === undefined ? null : <RecordRow c={c} record={c.record} />}
              </>
            ))}
          </tbody>
        </table>
      )}

      {r.resources === undefined && r.resourcesError === undefined ? null : (
        <>
          <h2>{`Networks and volumes (${r.resourcesTotal ?? r.resources?.length ?? 0})`}</h2>
          {r.resourcesError === undefined ? null : <p class="note bad" id="resources-error">{`Not judged in this run, none touched: ${r.resourcesError}`}</p>}
          {r.resources === undefined || r.resources.length === 0 ? (
            r.resourcesError === undefined ? <p class="empty-state">No untracked labelled network or volume.</p> : null
          ) : (
            <table id="resources-table">
              <thead>
                <tr>
                  <th scope="col">kind</th>
                  <th scope="col">name</th>
                  <th scope="col">container id (label)</th>
                  <th scope="col">created</th>
                  <th scope="col">action</th>
                  <th scope="col">error</th>
                </tr>
              </thead>
              <tbody>
                {r.resources.map((x) => (
                  <tr class={x.action === 'failed' ? 'failing' : ''} data-resource={`${x.kind}:${x.name}`}>
                    <td>{x.kind}</td>
                    <td class="mono">{x.name}</td>
                    <td class="mono">{x.clawboxId}</td>
                    <td class="when">{x.createdAt === undefined ? 'not known (judged young)' : formatInstant(x.createdAt)}</td>
                    <td>
                      <span class={`badge ${RESOURCE_CLASS[x.action] ?? 'none'}`}>{x.action}</span>
                    </td>
                    <td class="err">{x.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Layout>
  );
};
