/**
 * The CLI's client of the control-plane API: bearer token, JSON in and out, every answer parsed
 * with the API's own contract schemas.
 */
import type { z } from 'zod';
import { ErrorBody } from '../lib/agent-contract.js';
import { tokenAuth, type RequestAuth } from './aws-auth.js';
import {
  HostItem,
  HostList,
  ReapStarted,
  ReportItem,
  ReportPageBody,
  RestoreAnswer,
  RunView,
  TrackedItem,
  TrackedList,
  type HostPutBody,
  type ReapStartBody,
  type TrackPutBody,
} from '../functions/api/contract.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    /** The API's `error.details` (validation issues: `{ path, message }[]`). */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  /** How requests are authenticated (aws-auth.ts); default: the bearer token, if any. */
  auth?: RequestAuth;
  fetch?: typeof fetch;
}

const enc = encodeURIComponent;

export function createApiClient(options: ApiClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const auth = options.auth ?? tokenAuth(options.token);

  async function call<S extends z.ZodType>(method: string, path: string, schema: S | null, body?: unknown): Promise<z.infer<S>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    await auth.apply({ method, url: base + path, headers, ...(payload === undefined ? {} : { body: payload }) });
    let response: Response;
    try {
      response = await doFetch(base + path, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    } catch (error) {
      const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
      throw new ApiError(`cannot reach the API at ${base} (${cause}); is \`clawbox-reaper local\` running? Set --api or REAPER_API_URL to point elsewhere`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(`the API at ${base} answered HTTP ${response.status} with a body that is not JSON`, response.status);
    }
    if (!response.ok) {
      const parsed = ErrorBody.safeParse(json);
      if (auth.kind === 'sigv4' && (response.status === 401 || response.status === 403)) {
        const reason = typeof json === 'object' && json !== null && 'message' in json ? `: ${String(json.message)}` : '';
        throw new ApiError(`the API refused the request (${response.status}${reason}); check the AWS credentials, profile and region, and that they may call execute-api:Invoke on this API`, response.status, 'forbidden');
      }
      if (response.status === 401) throw new ApiError(`the API refused the token (401): set REAPER_API_TOKEN to the token printed by \`clawbox-reaper local\``, 401, 'unauthorized');
      const message = parsed.success ? `${parsed.data.error.message}${describeDetails(parsed.data.error.details)}` : `HTTP ${response.status}`;
      throw new ApiError(message, response.status, parsed.success ? parsed.data.error.code : undefined, parsed.success ? parsed.data.error.details : undefined);
    }
    if (schema === null) return undefined as z.infer<S>;
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ApiError(`the API's answer to ${method} ${path} does not match this CLI's contract (version mismatch?)`);
    return parsed.data;
  }

  return {
    listHosts: () => call('GET', '/v1/hosts', HostList),
    getHost: (hostId: string) => call('GET', `/v1/hosts/${enc(hostId)}`, HostItem),
    putHost: (hostId: string, body: HostPutBody) => call('PUT', `/v1/hosts/${enc(hostId)}`, HostItem, body),
    deleteHost: (hostId: string) => call('DELETE', `/v1/hosts/${enc(hostId)}`, null),
    listTracked: (hostId: string, cursor?: string) => call('GET', `/v1/hosts/${enc(hostId)}/containers${cursor ? `?cursor=${enc(cursor)}` : ''}`, TrackedList),
    track: (hostId: string, containerId: string, body: TrackPutBody) => call('PUT', `/v1/hosts/${enc(hostId)}/containers/${enc(containerId)}`, TrackedItem, body),
    untrack: (hostId: string, containerId: string) => call('DELETE', `/v1/hosts/${enc(hostId)}/containers/${enc(containerId)}`, null),
    /** S11: tracks the quarantined container again and unpauses it now (or at the host's next run). */
    restore: (hostId: string, containerId: string, body: TrackPutBody) =>
      call('POST', `/v1/hosts/${enc(hostId)}/containers/${enc(containerId)}/restore`, RestoreAnswer, body),
    startReap: (body: ReapStartBody) => call('POST', '/v1/reaps', ReapStarted, body),
    /** One page of a run's reports (summaries) with the whole run's `done` and `reported`. */
    getRun: (runId: string, page: { limit?: number; cursor?: string } = {}) => {
      const params = new URLSearchParams();
      if (page.limit !== undefined) params.set('limit', String(page.limit));
      if (page.cursor !== undefined) params.set('cursor', page.cursor);
      const qs = params.toString();
      return call('GET', `/v1/reaps/${enc(runId)}${qs ? `?${qs}` : ''}`, RunView);
    },
    /** One host's report of one run in full, its (capped) container list included. */
    getReport: (hostId: string, runId: string) => call('GET', `/v1/reports/${enc(hostId)}/${enc(runId)}`, ReportItem),
    listReports: (query: Record<string, string | number | undefined>) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
      const qs = params.toString();
      return call('GET', `/v1/reports${qs ? `?${qs}` : ''}`, ReportPageBody);
    },
  };
}

function describeDetails(details: unknown): string {
  if (!Array.isArray(details)) return '';
  const parts = details
    .map((d: unknown) => (typeof d === 'object' && d !== null && 'path' in d && 'message' in d ? `${String(d.path)}: ${String(d.message)}` : ''))
    .filter(Boolean);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

export type ApiClient = ReturnType<typeof createApiClient>;

/** Most pages one walk of a run reads (100 reports each): a fleet of 100,000 hosts. */
const MAX_RUN_PAGES = 1000;

/**
 * A run's first page and then every further one: the view of the first page (its `done` and
 * `reported` are over the whole run) with the reports of all pages, each host once.
 */
export async function getWholeRun(api: Pick<ApiClient, 'getRun'>, runId: string, first?: RunView): Promise<RunView> {
  const view = first ?? (await api.getRun(runId, { limit: 100 }));
  const reports = new Map(view.reports.map((r) => [r.hostId, r]));
  let cursor = view.cursor;
  for (let pages = 1; cursor !== undefined && pages < MAX_RUN_PAGES; pages++) {
    const page = await api.getRun(runId, { limit: 100, cursor });
    for (const r of page.reports) reports.set(r.hostId, r);
    cursor = page.cursor;
  }
  return {
    runId: view.runId,
    done: view.done,
    ...(view.hosts === undefined ? {} : { hosts: view.hosts }),
    reported: view.reported,
    ...(view.runHosts === undefined ? {} : { runHosts: view.runHosts }),
    reports: [...reports.values()].sort((a, b) => a.hostId.localeCompare(b.hostId)),
  };
}
