/**
 * The control-plane API (SPEC §6) as a Hono app: the host registry, the tracked registry,
 * on-demand reaps and the audit trail. A factory: the store, the way a run is started and the
 * auth middleware are passed in, so the Lambda entry (IAM auth at API Gateway, runs as async
 * invocations of the reaper function), the local stack (a bearer token, runs in process) and the
 * tests all serve this same app.
 *
 * Every path param, query string and body is parsed with the contract's schemas (ids strict,
 * unknown fields and query parameters refused); handlers throw typed errors and the one onError
 * of lib/http.ts answers `{ error: { code, message, details? } }`.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError, conflict, unavailable } from '../../lib/errors.js';
import { installErrorHandling } from '../../lib/http.js';
import type { Logger } from '../../lib/logger.js';
import type { Store } from '../store/index.js';
import type { RestoreOutcome } from '../reaper/restore.js';
import type { RunProgress } from '../store/reports.js';
import {
  HostParams,
  HostPutBody,
  NoQuery,
  ReapStartBody,
  ReportParams,
  ReportsQuery,
  RunParams,
  RunQuery,
  TrackedListQuery,
  TrackedParams,
  TrackPutBody,
  type HostList,
  type ReapStarted,
  type RestoreAnswer,
  type ReportPageBody,
  type RunView,
  type TrackedList,
} from './contract.js';
import { readJsonBody, readParams, readQuery } from './request.js';
import { RecentRuns, type StartedRun } from './runs.js';

/** What the reaper function is asked to run: exactly its on-demand event (functions/reaper/events.ts). */
export interface StartRunRequest {
  runId: string;
  /** The run's start (ISO): every delivery of the invocation keys its reports alike, so a duplicate writes none (SPEC §10). */
  startedAt?: string;
  /** Only these hosts; absent: every enabled host. */
  hosts?: string[];
  dryRun?: boolean;
  force?: boolean;
  now?: boolean;
}

/**
 * Hands a run off and resolves once it is handed off, not when it ends (an async Lambda
 * invocation on AWS, an un-awaited in-process run locally). Rejects when the run was not started.
 */
export type StartRun = (request: StartRunRequest) => Promise<void>;

export interface ApiAppDeps {
  store: Pick<Store, 'hosts' | 'tracked' | 'reports' | 'quarantine'>;
  startRun: StartRun;
  logger: Logger;
  /** Runs before every /v1 route (the local bearer token); absent on AWS, where API Gateway does IAM auth. */
  auth?: MiddlewareHandler;
  now?: () => number;
  newRunId?: () => string;
  /** Request bodies larger than this are refused with 413; default 1 MiB. */
  bodyLimitBytes?: number;
  /**
   * Whether a run this process started has ended (true), is still going (false), or is not known
   * here (undefined). The local stack knows; on AWS the run lives in another function.
   */
  runFinished?: (runId: string) => boolean | undefined;
  /**
   * The audit dashboard (/dashboard) signs browsers in with this token (the local stack passes the
   * API token). Absent: the pages have no sign-in of their own, as /v1 has no auth of its own on
   * AWS; IAM on the HTTP API's /dashboard routes guards them there (docs/DASHBOARD.md).
   */
  dashboardToken?: string;
  /**
   * Unpauses a quarantined container now (S11), where the master key is: the reaper function
   * (a synchronous invoke on AWS, in process locally). Absent: the next run restores it.
   */
  restore?: (hostId: string, containerId: string) => Promise<RestoreOutcome>;
}

export const DEFAULT_API_BODY_LIMIT = 1024 * 1024;

/**
 * A run is done when every host it covers has a report. The reaper writes that count on every
 * report (`runHosts`); reports written before it did fall back on this process's own record.
 */
function runDone(progress: RunProgress, started: StartedRun | undefined, finished: boolean | undefined): boolean {
  const reported = new Set(progress.hosts);
  const declared = progress.runHosts;
  if (declared !== undefined) return reported.size >= declared;
  // A run that ended in process is done even if some host got no report (deleted mid-run, or the
  // run failed before any host was contacted): nothing more will come.
  if (finished === true) return true;
  if (started) return started.hosts.every((hostId) => reported.has(hostId));
  return false;
}

const hostNotFound = (hostId: string) => new AppError(404, 'host_not_found', `host ${hostId} is not registered; register it with PUT /v1/hosts/${hostId}`);

/** Builds the API. The answer is a plain Hono app: `app.fetch` for a server, `handle(app)` for Lambda. */
export function createApiApp(deps: ApiAppDeps): Hono {
  const now = deps.now ?? Date.now;
  const newRunId = deps.newRunId ?? randomUUID;
  const limitBytes = deps.bodyLimitBytes ?? DEFAULT_API_BODY_LIMIT;
  const runs = new RecentRuns();
  const { store } = deps;
  const app = new Hono();
  installErrorHandling(app, { logger: deps.logger });

  app.use('*', async (c, next) => {
    const began = now();
    await next();
    // A body refused unread (401, 413, 415 …) is still on the wire: the connection cannot carry
    // another request, so say so rather than let the client reuse it (RFC 9112 §9.6).
    if (c.req.raw.body !== null && !c.req.raw.bodyUsed) c.res.headers.set('connection', 'close');
    // S9: method, path and status only; never a header (the bearer token) or a body.
    deps.logger.info({ method: c.req.method, path: new URL(c.req.url).pathname.slice(0, 512), status: c.res.status, ms: now() - began }, 'request');
  });

  app.get('/healthz', (c) => {
    readQuery(c, NoQuery);
    return c.json({ ok: true as const });
  });

  // Auth before the body is read: an unauthenticated caller gets 401 whatever it sends.
  if (deps.auth) app.use('/v1/*', deps.auth);
  app.use(
    '*',
    bodyLimit({
      maxSize: limitBytes,
      onError: () => {
        throw new AppError(413, 'payload_too_large', `body exceeds ${limitBytes} bytes`);
      },
    }),
  );

  // The audit dashboard: HTML pages over the same store, with their own sign-in (never /v1's bearer token in a header).
  // Loaded on its first request: most API containers only ever serve /v1, and every module loaded
  // at start is compiled at every cold start (the pages and hono's JSX, ~100 KB). It is mounted on
  // an app of its own with this app's error handling, so it answers as if routed here directly.
  let dashboard: Promise<Hono> | undefined;
  const serveDashboard = async (c: Context) => {
    dashboard ??= import('../dashboard/index.js').then(
      ({ createDashboard }) => {
        const mount = new Hono();
        installErrorHandling(mount, { logger: deps.logger });
        return mount.route('/dashboard', createDashboard({ store, logger: deps.logger, now, ...(deps.dashboardToken === undefined ? {} : { token: deps.dashboardToken }) }));
      },
      (error: unknown) => {
        dashboard = undefined;
        throw error;
      },
    );
    return (await dashboard).fetch(c.req.raw, c.env);
  };
  app.all('/dashboard', serveDashboard);
  app.all('/dashboard/*', serveDashboard);

  // ---- hosts -------------------------------------------------------------------------------

  app.get('/v1/hosts', async (c) => {
    readQuery(c, NoQuery);
    const listing = await store.hosts.list();
    const body: HostList = {
      hosts: listing.hosts,
      ...(listing.invalid.length
        ? { invalid: listing.invalid.map((i) => (i.hostId === undefined ? { problem: i.problem } : { hostId: i.hostId, problem: i.problem })) }
        : {}),
    };
    return c.json(body);
  });

  app.get('/v1/hosts/:hostId', async (c) => {
    const { hostId } = readParams(c, HostParams);
    readQuery(c, NoQuery);
    const host = await store.hosts.get(hostId);
    if (!host) throw hostNotFound(hostId);
    return c.json(host);
  });

  /** Creates or replaces the host's settings (idempotent); `createdAt` and `lastReap` are kept. */
  app.put('/v1/hosts/:hostId', async (c) => {
    const { hostId } = readParams(c, HostParams);
    readQuery(c, NoQuery);
    const body = await readJsonBody(c, HostPutBody);
    return c.json(await store.hosts.put(hostId, body));
  });

  /**
   * Idempotent: 204 whether or not the host existed. The host's tracked items are kept: they
   * harm nothing while the host is unregistered (the reaper never contacts it), and if the host
   * is registered again they still protect its containers. Deleting them here could turn a
   * live sandbox into an orphan.
   */
  app.delete('/v1/hosts/:hostId', async (c) => {
    const { hostId } = readParams(c, HostParams);
    readQuery(c, NoQuery);
    await store.hosts.delete(hostId);
    return c.body(null, 204);
  });

  // ---- tracked containers ------------------------------------------------------------------

  /** One page in containerId order. Items left from a deleted host are still listed; 404 only when there is neither host nor item. */
  app.get('/v1/hosts/:hostId/containers', async (c) => {
    const { hostId } = readParams(c, HostParams);
    const query = readQuery(c, TrackedListQuery);
    const page = await store.tracked.list(hostId, query);
    if (page.items.length === 0 && query.cursor === undefined && !(await store.hosts.get(hostId))) throw hostNotFound(hostId);
    const body: TrackedList = { items: page.items, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) };
    return c.json(body);
  });

  /**
   * Track (idempotent upsert; also renews a lease). Refused with 404 on an unregistered host: a
   * typo'd host id would protect nothing, and the manager must not create its container then.
   * A disabled host is accepted (it is still registered, only not reaped).
   */
  app.put('/v1/hosts/:hostId/containers/:containerId', async (c) => {
    const { hostId, containerId } = readParams(c, TrackedParams);
    readQuery(c, NoQuery);
    const body = await readJsonBody(c, TrackPutBody, { emptyAs: {} });
    if (!(await store.hosts.get(hostId))) throw hostNotFound(hostId);
    return c.json(await store.tracked.track(hostId, containerId, body));
  });

  /** Untrack: 204 whether or not the item existed, registered host or not (cleanup must always work). */
  app.delete('/v1/hosts/:hostId/containers/:containerId', async (c) => {
    const { hostId, containerId } = readParams(c, TrackedParams);
    readQuery(c, NoQuery);
    await store.tracked.untrack(hostId, containerId);
    return c.body(null, 204);
  });

  /**
   * Restore (S11): track the container again and unpause it now. 404 not_quarantined, with
   * nothing changed, when no container with this label value is in quarantine on the host.
   */
  app.post('/v1/hosts/:hostId/containers/:containerId/restore', async (c) => {
    const { hostId, containerId } = readParams(c, TrackedParams);
    readQuery(c, NoQuery);
    const body = await readJsonBody(c, TrackPutBody, { emptyAs: {} });
    if (!(await store.hosts.get(hostId))) throw hostNotFound(hostId);
    const entries = await store.quarantine.forContainer(hostId, containerId);
    if (entries.length === 0) throw new AppError(404, 'not_quarantined', `no container labelled ${containerId} is in quarantine on host ${hostId}; nothing was changed`);
    // Tracked first: from here on no run removes it, whatever happens to the unpause.
    const tracked = await store.tracked.track(hostId, containerId, body);
    let restore: RestoreAnswer['restore'] = { status: 'pending', containers: [], error: 'restored by the next run of this host' };
    if (deps.restore) {
      try {
        const outcome = await deps.restore(hostId, containerId);
        restore = {
          status: outcome.status === 'restored' || outcome.status === 'not-quarantined' ? 'restored' : 'pending',
          containers: outcome.containers,
          ...(outcome.error === undefined ? {} : { error: outcome.error }),
        };
      } catch (error) {
        deps.logger.warn({ err: error, hostId, containerId }, 'restore not done now; the next run restores it');
      }
    }
    const answer: RestoreAnswer = { tracked, restore };
    return c.json(answer);
  });

  // ---- reaps -------------------------------------------------------------------------------

  /**
   * Starts a run and answers 202 once it is handed off. Named hosts must be registered (404
   * host_not_found) and enabled (409 host_disabled); without names, the run covers every enabled
   * host, and there must be one (409 no_enabled_hosts). Host items that cannot be read are part
   * of the run: the reaper gives each an `error` report.
   */
  app.post('/v1/reaps', async (c) => {
    readQuery(c, NoQuery);
    const body = await readJsonBody(c, ReapStartBody, { emptyAs: {} });
    // S4: a forced run over the whole fleet is exactly the mass deletion the guards stop.
    if (body.force && body.hosts === undefined) {
      throw new AppError(400, 'force_needs_hosts', 'force lifts the guards only for named hosts: give "hosts" (CLI: reap --force --host ID)');
    }
    const listing = await store.hosts.list();
    const unreadable = listing.invalid.flatMap((i) => (i.hostId === undefined ? [] : [i.hostId]));
    let hosts: string[];
    if (body.hosts !== undefined) {
      hosts = [...new Set(body.hosts)];
      const known = new Map(listing.hosts.map((h) => [h.hostId, h]));
      const unknown = hosts.filter((h) => !known.has(h) && !unreadable.includes(h));
      if (unknown.length) {
        throw new AppError(404, 'host_not_found', `not registered: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`, { details: { hosts: unknown.slice(0, 100) } });
      }
      const disabled = hosts.filter((h) => known.get(h)?.enabled === false);
      if (disabled.length) {
        throw new AppError(409, 'host_disabled', `disabled, so never reaped: ${disabled.slice(0, 10).join(', ')}${disabled.length > 10 ? ', …' : ''}; enable with PUT /v1/hosts/:hostId`, {
          details: { hosts: disabled.slice(0, 100) },
        });
      }
    } else {
      hosts = [...listing.hosts.filter((h) => h.enabled).map((h) => h.hostId), ...unreadable];
      if (hosts.length === 0) throw conflict('no_enabled_hosts', 'no host is registered and enabled; register one with PUT /v1/hosts/:hostId');
    }
    hosts.sort();

    const runId = newRunId();
    const startedAt = new Date(now()).toISOString();
    runs.add(runId, { hosts, startedAt });
    try {
      await deps.startRun({
        runId,
        startedAt,
        // Without names the reaper takes every enabled host itself: the event stays small however large the fleet.
        ...(body.hosts === undefined ? {} : { hosts }),
        ...(body.dryRun === undefined ? {} : { dryRun: body.dryRun }),
        ...(body.force === undefined ? {} : { force: body.force }),
        ...(body.now === undefined ? {} : { now: body.now }),
      });
    } catch (error) {
      runs.delete(runId);
      throw unavailable('reap_not_started', 'the reap could not be started; nothing was run', error);
    }
    deps.logger.info({ runId, hosts: hosts.length, dryRun: body.dryRun ?? false, force: body.force ?? false }, 'reap started');
    const started: ReapStarted = { runId, hosts };
    return c.json(started, 202);
  });

  /**
   * One page of the run's host reports so far (summaries, `limit`/`cursor`) and whether it is
   * done. 404 when there is no report and this process did not start it.
   */
  app.get('/v1/reaps/:runId', async (c) => {
    const { runId } = readParams(c, RunParams);
    const query = readQuery(c, RunQuery);
    // Asked before the reads: a run that had ended in process by then has all it will ever have
    // written in what they read (asked after, a run ending between them would look done and empty).
    const finished = deps.runFinished?.(runId);
    const page = await store.reports.runPage(runId, query);
    // Who has an outcome, over every page: from the same read of the run's shard items as the page.
    const { progress } = page;
    const started = runs.get(runId);
    if (progress.hosts.length === 0 && !started) {
      throw new AppError(404, 'run_not_found', `no report for run ${runId}; a run that was just started shows up once its first host has reported`);
    }
    const body: RunView = {
      runId,
      done: runDone(progress, started, finished),
      ...(started ? { hosts: [...started.hosts] } : {}),
      reported: progress.hosts.length,
      ...(progress.runHosts === undefined ? {} : { runHosts: progress.runHosts }),
      reports: page.items,
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
    };
    return c.json(body);
  });

  // ---- audit trail -------------------------------------------------------------------------

  /**
   * Newest first, paged with an opaque cursor; a cursor from another listing is a 400. Summaries:
   * counts, `containersTotal` and `truncated`, never the per-container lists (SPEC §6).
   */
  app.get('/v1/reports', async (c) => {
    const query = readQuery(c, ReportsQuery);
    const page = await store.reports.listReports(query);
    const body: ReportPageBody = { items: page.items, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) };
    return c.json(body);
  });

  /** One host's report of one run, in full: its (capped) per-container list included. */
  app.get('/v1/reports/:hostId/:runId', async (c) => {
    const { hostId, runId } = readParams(c, ReportParams);
    readQuery(c, NoQuery);
    const report = await store.reports.getReport(hostId, runId);
    if (!report) throw new AppError(404, 'report_not_found', `host ${hostId} has no report of run ${runId} (yet)`);
    return c.json(report);
  });

  return app;
}
