/** `hosts`, `track`, `untrack`, `restore` and `reports`: thin views over the API, tables or --json. */
import type { TrackPutBody } from '../functions/api/contract.js';
import { shortEngine } from '../functions/dashboard/format.js';
import { parseDuration } from '../lib/duration.js';
import { ApiError, getWholeRun, type ApiClient } from './api-client.js';
import { printJson, table, UsageError } from './output.js';

/** A host's engine in a table (S10): shortened (the whole id is in --json), or `unpinned`. */
export const engineColumn = (engineId: string | undefined): string => (engineId === undefined ? 'unpinned' : shortEngine(engineId));

export async function listHosts(api: ApiClient, json: boolean): Promise<number> {
  const { hosts } = await api.listHosts();
  if (json) printJson(hosts);
  else
    process.stdout.write(
      table(
        ['HOST', 'AGENT', 'ENABLED', 'MAX REAP', 'ENGINE', 'LAST REAP', 'STATUS', 'REMOVED'],
        hosts.map((h) => [h.hostId, h.agentUrl, h.enabled ? 'yes' : 'no', h.maxReap, engineColumn(h.engineId), h.lastReap?.at, h.lastReap?.status, h.lastReap?.counts?.removed]),
      ),
    );
  return 0;
}

/** The API's 404 for an unknown host, said in the CLI's words (still exit 3: the API refused). */
function rethrowMissingHost(error: unknown, hostId: string, what: string): never {
  if (error instanceof ApiError && error.code === 'host_not_found') {
    throw new ApiError(`host ${hostId} is not registered, so there is nothing to ${what}; \`clawbox-reaper hosts\` lists the registered hosts`, error.status, error.code);
  }
  throw error;
}

/**
 * `hosts repin ID` (S10): unbinds the host from its engine. Its settings are written back as they
 * are (read first), with `repin: true`; the next run pins whatever engine its agent reports then.
 */
export async function repinHost(api: ApiClient, hostId: string, json: boolean): Promise<number> {
  const before = await api.getHost(hostId).catch((error: unknown) => rethrowMissingHost(error, hostId, 're-pin'));
  const host = await api.putHost(hostId, {
    agentUrl: before.agentUrl,
    enabled: before.enabled,
    ...(before.maxReap === undefined ? {} : { maxReap: before.maxReap }),
    // The URL allowances too: a PUT replaces every setting it leaves out.
    ...(before.allowPlainHttp === undefined ? {} : { allowPlainHttp: before.allowPlainHttp }),
    ...(before.allowLinkLocal === undefined ? {} : { allowLinkLocal: before.allowLinkLocal }),
    repin: true,
  });
  if (json) printJson(host);
  else if (before.engineId === undefined) process.stdout.write(`host ${hostId} was not pinned to an engine; the next run pins it to the engine its agent reports\n`);
  else
    process.stdout.write(
      `host ${hostId} unpinned from engine ${before.engineId}${before.enginePinnedAt ? ` (pinned ${before.enginePinnedAt})` : ''}; the next run pins it to the engine its agent reports then\n`,
    );
  return 0;
}

/** The host's settings, or undefined when it is not registered. */
async function hostOrUndefined(api: ApiClient, hostId: string) {
  try {
    return await api.getHost(hostId);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'host_not_found') return undefined;
    throw error;
  }
}

/** A host's settings as a PUT body: a PUT replaces every setting, so the ones kept are sent back as they are. */
function settingsOf(host: { agentUrl: string; enabled: boolean; maxReap?: number; allowPlainHttp?: boolean; allowLinkLocal?: boolean }) {
  return {
    agentUrl: host.agentUrl,
    enabled: host.enabled,
    ...(host.maxReap === undefined ? {} : { maxReap: host.maxReap }),
    ...(host.allowPlainHttp === undefined ? {} : { allowPlainHttp: host.allowPlainHttp }),
    ...(host.allowLinkLocal === undefined ? {} : { allowLinkLocal: host.allowLinkLocal }),
  };
}

/**
 * `hosts add ID`: registers a host, or updates a registered one. On an existing host only the
 * flags given change; the other settings (max reap, enabled, the URL allowances) are kept.
 */
export async function addHost(
  api: ApiClient,
  hostId: string,
  options: { url?: string; disabled?: boolean; maxReap?: string; allowPlainHttp?: boolean; allowLinkLocal?: boolean },
  json: boolean,
): Promise<number> {
  let maxReap: number | undefined;
  // `--max-reap default`: the host's own cap is dropped, REAPER_MAX_REAP applies again.
  const dropCap = options.maxReap === 'default';
  if (options.maxReap !== undefined && !dropCap) {
    maxReap = Number(options.maxReap);
    if (!/^\d+$/.test(options.maxReap.trim()) || !Number.isInteger(maxReap) || maxReap < 0) throw new UsageError('--max-reap must be a whole number >= 0');
  }
  const before = await hostOrUndefined(api, hostId);
  const agentUrl = options.url ?? before?.agentUrl;
  if (agentUrl === undefined) throw new UsageError(`host ${hostId} is not registered yet: give its agent's URL with --url`);
  const kept: { enabled: boolean; maxReap?: number } = before ? settingsOf(before) : { enabled: true };
  if (dropCap) delete kept.maxReap;
  const host = await api.putHost(hostId, {
    ...kept,
    agentUrl,
    ...(options.disabled ? { enabled: false } : {}),
    ...(maxReap === undefined ? {} : { maxReap }),
    ...(options.allowPlainHttp ? { allowPlainHttp: true } : {}),
    ...(options.allowLinkLocal ? { allowLinkLocal: true } : {}),
  });
  if (json) printJson(host);
  else {
    const cap = host.maxReap === undefined ? '' : `, max reap ${host.maxReap}`;
    process.stdout.write(`host ${host.hostId} ${before ? 'updated' : 'registered'} (${host.agentUrl}, ${host.enabled ? 'enabled' : 'disabled'}${cap})\n`);
  }
  return 0;
}

/** `hosts enable ID` / `hosts disable ID`: only `enabled` changes. */
export async function setHostEnabled(api: ApiClient, hostId: string, enabled: boolean, json: boolean): Promise<number> {
  const before = await api.getHost(hostId).catch((error: unknown) => rethrowMissingHost(error, hostId, enabled ? 'enable' : 'disable'));
  const host = before.enabled === enabled ? before : await api.putHost(hostId, { ...settingsOf(before), enabled });
  if (json) printJson(host);
  else if (before.enabled === enabled) process.stdout.write(`host ${hostId} was already ${enabled ? 'enabled' : 'disabled'}; nothing changed\n`);
  else process.stdout.write(`host ${hostId} ${enabled ? 'enabled: runs reap it again' : 'disabled: no run reaps it until `clawbox-reaper hosts enable ' + hostId + '`'}\n`);
  return 0;
}

/** `hosts remove ID`: idempotent like the API (exit 0 either way), but says when nothing was registered. */
export async function removeHost(api: ApiClient, hostId: string, json: boolean): Promise<number> {
  const before = await hostOrUndefined(api, hostId);
  if (before) await api.deleteHost(hostId);
  if (json) printJson({ hostId, removed: before !== undefined });
  else if (before) process.stdout.write(`host ${hostId} removed\n`);
  else process.stdout.write(`host ${hostId} is not registered: nothing was removed\n`);
  return 0;
}

export interface TrackOptions {
  dockerId?: string;
  owner?: string;
  lease?: string;
}

/** The tracked item's fields from `track`/`restore` flags. */
function trackBody(options: TrackOptions): TrackPutBody {
  let leaseSeconds: number | undefined;
  if (options.lease !== undefined) {
    try {
      leaseSeconds = Math.ceil(parseDuration(options.lease) / 1000);
    } catch (error) {
      throw new UsageError(`--lease: ${(error as Error).message}`);
    }
    if (leaseSeconds < 1) throw new UsageError('--lease must be at least 1s');
  }
  return {
    ...(options.dockerId ? { dockerId: options.dockerId } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(leaseSeconds === undefined ? {} : { leaseSeconds }),
  };
}

const until = (leaseExpiresAt: number | undefined) => (leaseExpiresAt ? ` until ${new Date(leaseExpiresAt * 1000).toISOString()}` : '');

export async function track(api: ApiClient, hostId: string, containerId: string, options: TrackOptions, json: boolean): Promise<number> {
  const item = await api.track(hostId, containerId, trackBody(options));
  if (json) printJson(item);
  else process.stdout.write(`tracked ${item.containerId} on ${item.hostId}${until(item.leaseExpiresAt)}\n`);
  return 0;
}

const OUTCOME_WORDS: Record<string, string> = {
  unpaused: 'unpaused, running again',
  'not-paused': 'was not paused (left as it was)',
  gone: 'no longer on the engine',
};

/**
 * `restore HOST ID` (S11): tracks a quarantined container again and has it unpaused now; when the
 * agent cannot be reached now, the tracked item already protects it and the next run unpauses it.
 */
export async function restore(api: ApiClient, hostId: string, containerId: string, options: TrackOptions, json: boolean): Promise<number> {
  const body = trackBody(options);
  let answer;
  try {
    answer = await api.restore(hostId, containerId, body);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_quarantined') {
      throw new ApiError(
        `no container labelled ${containerId} is in quarantine on ${hostId}, so nothing was restored or tracked; \`clawbox-reaper reports --host ${hostId}\` shows what the last runs did (a removed container cannot be restored)`,
        error.status,
        error.code,
      );
    }
    rethrowMissingHost(error, hostId, 'restore');
  }
  if (json) {
    printJson(answer);
    return 0;
  }
  const { tracked, restore: outcome } = answer;
  const lines: string[] = [];
  if (outcome.status === 'restored') {
    lines.push(`restored ${containerId} on ${hostId}: tracked again${until(tracked.leaseExpiresAt)}${outcome.containers.length ? ' and unpaused now' : '; nothing was left in quarantine'}`);
  } else {
    lines.push(
      `${containerId} on ${hostId} is tracked again${until(tracked.leaseExpiresAt)}, so no run removes it, but it was not unpaused now${outcome.error ? ` (${outcome.error})` : ''}; the next run of ${hostId} restores it`,
    );
  }
  for (const c of outcome.containers) lines.push(`  ${c.dockerId.slice(0, 12)}  ${OUTCOME_WORDS[c.outcome] ?? c.outcome}${c.error ? `: ${c.error}` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Whether the container is tracked on the host (the API has no single-item read: its pages are walked). */
async function isTracked(api: ApiClient, hostId: string, containerId: string): Promise<boolean> {
  let cursor: string | undefined;
  try {
    do {
      const page = await api.listTracked(hostId, cursor);
      if (page.items.some((i) => i.containerId === containerId)) return true;
      cursor = page.cursor;
    } while (cursor);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'host_not_found') return false;
    throw error;
  }
  return false;
}

/** `untrack HOST ID`: idempotent like the API (exit 0 either way), but says when nothing was tracked. */
export async function untrack(api: ApiClient, hostId: string, containerId: string, json: boolean): Promise<number> {
  const was = await isTracked(api, hostId, containerId);
  await api.untrack(hostId, containerId);
  if (json) printJson({ hostId, containerId, tracked: false, wasTracked: was });
  else if (was) process.stdout.write(`untracked ${containerId} on ${hostId}\n`);
  else process.stdout.write(`${containerId} was not tracked on ${hostId}: nothing changed\n`);
  return 0;
}

export async function listTracked(api: ApiClient, hostId: string, json: boolean): Promise<number> {
  const items = [];
  let cursor: string | undefined;
  do {
    const page = await api.listTracked(hostId, cursor);
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  if (json) printJson(items);
  else process.stdout.write(table(['CONTAINER', 'DOCKER ID', 'OWNER', 'LEASE UNTIL', 'SINCE'], items.map((i) => [i.containerId, i.dockerId?.slice(0, 12), i.owner, i.leaseExpiresAt ? new Date(i.leaseExpiresAt * 1000).toISOString() : undefined, i.createdAt])));
  return 0;
}

export interface ReportsOptions {
  host?: string;
  since?: string;
  until?: string;
  limit?: string;
  all?: boolean;
  run?: string;
}

/** `--since 1h` means "from one hour ago"; an ISO instant is taken as is. */
function instantFlag(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) return new Date(value).toISOString();
  try {
    return new Date(Date.now() - parseDuration(value)).toISOString();
  } catch {
    throw new UsageError(`${flag}: use a duration back from now (e.g. 1h, 7d) or an ISO instant`);
  }
}

export async function listReports(api: ApiClient, options: ReportsOptions, json: boolean): Promise<number> {
  const limit = options.all ? Number.MAX_SAFE_INTEGER : options.limit === undefined ? 25 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || (!options.all && limit > 1000)) throw new UsageError('--limit must be a whole number from 1 to 1000 (or --all)');
  // One host's report of one run: the full item, its container list included.
  if (options.run && options.host) return showReport(api, options.host, options.run, json);
  let items;
  let more = false;
  if (options.run) {
    items = (await getWholeRun(api, options.run)).reports;
  } else {
    items = [];
    let cursor: string | undefined;
    do {
      const page = await api.listReports({
        hostId: options.host,
        since: instantFlag(options.since, '--since'),
        until: instantFlag(options.until, '--until'),
        limit: Math.min(100, limit - items.length),
        cursor,
      });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor && items.length < limit);
    // A cursor left over may mean the audit trail holds more than was asked for: one peek says.
    if (cursor !== undefined) {
      const peek = await api.listReports({ hostId: options.host, since: instantFlag(options.since, '--since'), until: instantFlag(options.until, '--until'), limit: 1, cursor });
      more = peek.items.length > 0;
    }
  }
  if (json) printJson(items.map(withoutStorageFields));
  else {
    process.stdout.write(
      table(
        ['STARTED', 'HOST', 'RUN', 'TRIGGER', 'STATUS', 'ORPHANS', 'REMOVED', 'FAILED', 'ERROR'],
        items.map((r) => [r.startedAt, r.hostId, r.runId, r.trigger, r.status, r.counts?.orphans, r.counts?.removed, r.counts?.failed, r.error]),
      ),
    );
    if (more) process.stderr.write(`${items.length} of more reports shown (newest first); --limit N or --all for more\n`);
  }
  return 0;
}

/** The store's keys and bookkeeping (`sk`, `day`, `expiresAt`) are no part of a report as the CLI shows it. */
export function withoutStorageFields<T extends object>(report: T): Omit<T, 'sk' | 'day' | 'expiresAt'> {
  const { sk: _sk, day: _day, expiresAt: _expiresAt, ...rest } = report as T & { sk?: unknown; day?: unknown; expiresAt?: unknown };
  return rest;
}

/** `reports --run R --host H`: the one full report, with what happened to each container. */
async function showReport(api: ApiClient, hostId: string, runId: string, json: boolean): Promise<number> {
  const report = await api.getReport(hostId, runId);
  if (json) {
    printJson(withoutStorageFields(report));
    return 0;
  }
  const c = report.counts;
  process.stdout.write(
    table(
      ['STARTED', 'HOST', 'RUN', 'TRIGGER', 'STATUS', 'ORPHANS', 'REMOVED', 'FAILED', 'ERROR'],
      [[report.startedAt, report.hostId, report.runId, report.trigger, report.status, c?.orphans, c?.removed, c?.failed, report.error]],
    ),
  );
  if (report.containers.length > 0) {
    process.stdout.write(`\n${table(['CONTAINER', 'DOCKER ID', 'STATE', 'ACTION', 'ERROR'], report.containers.map((e) => [e.clawboxId, e.dockerId.slice(0, 12), e.state, e.action, e.error]))}`);
  }
  if (report.truncated) process.stdout.write(`\n${report.containers.length} of ${report.containersTotal} container entries are kept in the audit trail (failed and removed first); the counts are complete.\n`);
  return 0;
}
