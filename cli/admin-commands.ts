/** `hosts`, `track`, `untrack` and `reports`: thin views over the API, tables or --json. */
import { parseDuration } from '../lib/duration.js';
import type { ApiClient } from './api-client.js';
import { printJson, table, UsageError } from './output.js';

export async function listHosts(api: ApiClient, json: boolean): Promise<number> {
  const { hosts } = await api.listHosts();
  if (json) printJson(hosts);
  else
    process.stdout.write(
      table(
        ['HOST', 'AGENT', 'ENABLED', 'MAX REAP', 'LAST REAP', 'STATUS', 'REMOVED'],
        hosts.map((h) => [h.hostId, h.agentUrl, h.enabled ? 'yes' : 'no', h.maxReap, h.lastReap?.at, h.lastReap?.status, h.lastReap?.counts?.removed]),
      ),
    );
  return 0;
}

export async function addHost(api: ApiClient, hostId: string, options: { url: string; disabled?: boolean; maxReap?: string }, json: boolean): Promise<number> {
  let maxReap: number | undefined;
  if (options.maxReap !== undefined) {
    maxReap = Number(options.maxReap);
    if (!Number.isInteger(maxReap) || maxReap < 0) throw new UsageError('--max-reap must be a whole number >= 0');
  }
  const host = await api.putHost(hostId, { agentUrl: options.url, enabled: !options.disabled, ...(maxReap === undefined ? {} : { maxReap }) });
  if (json) printJson(host);
  else process.stdout.write(`host ${host.hostId} registered (${host.agentUrl}, ${host.enabled ? 'enabled' : 'disabled'})\n`);
  return 0;
}

export async function removeHost(api: ApiClient, hostId: string, json: boolean): Promise<number> {
  await api.deleteHost(hostId);
  if (json) printJson({ hostId, removed: true });
  else process.stdout.write(`host ${hostId} removed\n`);
  return 0;
}

export async function track(api: ApiClient, hostId: string, containerId: string, options: { dockerId?: string; owner?: string; lease?: string }, json: boolean): Promise<number> {
  let leaseSeconds: number | undefined;
  if (options.lease !== undefined) {
    try {
      leaseSeconds = Math.ceil(parseDuration(options.lease) / 1000);
    } catch (error) {
      throw new UsageError(`--lease: ${(error as Error).message}`);
    }
  }
  const item = await api.track(hostId, containerId, {
    ...(options.dockerId ? { dockerId: options.dockerId } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(leaseSeconds === undefined ? {} : { leaseSeconds }),
  });
  if (json) printJson(item);
  else process.stdout.write(`tracked ${item.containerId} on ${item.hostId}${item.leaseExpiresAt ? ` until ${new Date(item.leaseExpiresAt * 1000).toISOString()}` : ''}\n`);
  return 0;
}

export async function untrack(api: ApiClient, hostId: string, containerId: string, json: boolean): Promise<number> {
  await api.untrack(hostId, containerId);
  if (json) printJson({ hostId, containerId, tracked: false });
  else process.stdout.write(`untracked ${containerId} on ${hostId}\n`);
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
  const limit = options.limit === undefined ? 25 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number from 1 to 1000');
  let items;
  if (options.run) {
    items = (await api.getRun(options.run)).reports;
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
  }
  if (json) printJson(items);
  else
    process.stdout.write(
      table(
        ['STARTED', 'HOST', 'RUN', 'TRIGGER', 'STATUS', 'ORPHANS', 'REMOVED', 'FAILED', 'ERROR'],
        items.map((r) => [r.startedAt, r.hostId, r.runId, r.trigger, r.status, r.counts?.orphans, r.counts?.removed, r.counts?.failed, r.error]),
      ),
    );
  return 0;
}
