/**
 * The audit dashboard: server-rendered pages under /dashboard, mounted on the API app (so it runs
 * wherever the API runs: the local stack, and AWS behind the same HTTP API). No script at all;
 * the content security policy forbids any, so even a rendering bug could not run one.
 *
 *   GET  /dashboard                               the fleet
 *   GET  /dashboard/hosts/:hostId                 a host
 *   GET  /dashboard/hosts/:hostId/runs/:runId     a host's report of a run
 *   GET  /dashboard/runs/:runId                   every host's report of a run
 *   GET  /dashboard/login, POST /dashboard/login, POST /dashboard/logout   (only with a token)
 *
 * Query: `range` (1h, 6h, 24h, 7d, 30d; default 24h) and `status` (a report status or `failing`).
 */
import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import type { Child } from 'hono/jsx';
import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { HostId, RunId } from '../../lib/ids.js';
import type { Logger } from '../../lib/logger.js';
import { ReportStatus } from '../store/schemas.js';
import { DEFAULT_RANGE, RANGE_KEYS, windowFor, type RangeKey, type StatusFilter } from './aggregate.js';
import { loadFleet, loadHost, loadReport, loadRun, type DashboardStore } from './data.js';
import { BASE } from './format.js';
import { ViewerContext, type Viewer } from './layout.js';
import { FleetPage } from './pages/fleet.js';
import { HostPage } from './pages/host.js';
import { ErrorPage, LoginPage } from './pages/login.js';
import { ReportPage } from './pages/report.js';
import { RunPage } from './pages/run.js';
import { endSession, hasSession, isSameOrigin, safeNext, startSession, tokenMatches } from './session.js';

export interface DashboardDeps {
  store: DashboardStore;
  logger: Logger;
  now?: () => number;
  /**
   * The API token (the local stack): pages want a session started by signing in with it. Absent
   * (AWS): no sign-in here; IAM on the HTTP API's /dashboard routes guards the pages.
   */
  token?: string;
}

const SECURITY_HEADERS: Record<string, string> = {
  // No script, no external anything; inline styles only. Forms post only to this origin.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` on the sign-in POST.
  'referrer-policy': 'same-origin',
  // Audit data and a session: never kept by a shared cache.
  'cache-control': 'no-store',
};

const StatusParam = z.union([ReportStatus, z.literal('failing')]);
const RangeParam = z.enum(RANGE_KEYS as [RangeKey, ...RangeKey[]]);

/** `range` and `status` from the query string; a value that is not one of the choices is a 400 page, never silently ignored. */
function readFilters(c: Context): { range: RangeKey; status: StatusFilter | undefined } {
  const rangeText = c.req.query('range');
  const statusText = c.req.query('status');
  const range = rangeText === undefined || rangeText === '' ? DEFAULT_RANGE : RangeParam.safeParse(rangeText);
  if (typeof range !== 'string' && !range.success) throw new AppError(400, 'validation_failed', `range must be one of ${RANGE_KEYS.join(', ')}`);
  const status = statusText === undefined || statusText === '' ? undefined : StatusParam.safeParse(statusText);
  if (status !== undefined && !status.success) throw new AppError(400, 'validation_failed', `status must be "failing" or one of ${ReportStatus.options.join(', ')}`);
  return { range: typeof range === 'string' ? range : range.data, status: status?.data };
}

function readId(schema: typeof HostId | typeof RunId, value: string | undefined, what: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError(400, 'validation_failed', `that is not a valid ${what}`);
  return parsed.data;
}

type PageStatus = 200 | 400 | 401 | 403 | 404 | 500;

/** Builds the dashboard as a Hono app to mount at /dashboard (`app.route('/dashboard', createDashboard(…))`). */
export function createDashboard(deps: DashboardDeps): Hono {
  const now = deps.now ?? Date.now;
  const { store, token } = deps;
  const dash = new Hono();
  const signedIn = token !== undefined;
  // Who is looking decides the navigation: a signed-out browser is offered the sign-in page only.
  const viewerOf = (c: Context): Viewer => (token === undefined ? 'iam' : hasSession(c, token, now()) ? 'signed-in' : 'signed-out');
  /** Sends a page, with who is looking known to its layout (ViewerContext). */
  const page = (c: Context, body: Child, status: PageStatus = 200) =>
    c.html(html`<!doctype html>${<ViewerContext.Provider value={viewerOf(c)}>{body}</ViewerContext.Provider>}`, status);

  dash.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  });

  dash.onError((error, c) => {
    if (error instanceof AppError && error.status < 500) return page(c, <ErrorPage status={error.status} message={error.message} signedIn={signedIn} />, error.status === 404 ? 404 : 400);
    deps.logger.error({ err: error, path: new URL(c.req.url).pathname }, 'dashboard error');
    return page(c, <ErrorPage status={500} message="The page could not be built; see the server log." signedIn={signedIn} />, 500);
  });

  // ---- sign-in -----------------------------------------------------------------------------

  dash.get('/login', (c) => {
    const next = safeNext(c.req.query('next'));
    if (token === undefined || hasSession(c, token, now())) return c.redirect(next, 303);
    return page(c, <LoginPage next={next} />);
  });

  dash.post('/login', async (c) => {
    if (!isSameOrigin(c)) return page(c, <ErrorPage status={403} message="Sign-in refused: the form was not sent from this dashboard." signedIn={false} />, 403);
    if (token === undefined) return c.redirect(BASE, 303);
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const given = typeof form.token === 'string' ? form.token.trim() : '';
    if (!tokenMatches(token, given)) {
      // S9: the attempt is logged, never what was typed.
      deps.logger.warn({ path: `${BASE}/login` }, 'dashboard sign-in refused: wrong token');
      return page(c, <LoginPage next={next} refused="That is not this API's token." />, 401);
    }
    startSession(c, token, now());
    return c.redirect(next, 303);
  });

  dash.post('/logout', (c) => {
    if (!isSameOrigin(c)) return page(c, <ErrorPage status={403} message="Sign-out refused: the form was not sent from this dashboard." signedIn={signedIn} />, 403);
    endSession(c);
    return c.redirect(token === undefined ? BASE : `${BASE}/login`, 303);
  });

  // Every other page wants a session (where there is a token): a browser is sent to sign in.
  dash.use('*', async (c, next) => {
    if (token === undefined || hasSession(c, token, now())) return next();
    const url = new URL(c.req.url);
    return c.redirect(`${BASE}/login?next=${encodeURIComponent(safeNext(url.pathname + url.search))}`, 303);
  });

  // ---- pages -------------------------------------------------------------------------------

  dash.get('/', async (c) => {
    const { range, status } = readFilters(c);
    const nowMs = now();
    const window = windowFor(range, nowMs);
    const data = await loadFleet(store, window);
    return page(c, <FleetPage data={data} window={window} status={status} nowMs={nowMs} signedIn={signedIn} />);
  });

  dash.get('/hosts/:hostId', async (c) => {
    const hostId = readId(HostId, c.req.param('hostId'), 'host id');
    const { range, status } = readFilters(c);
    const nowMs = now();
    const window = windowFor(range, nowMs);
    const data = await loadHost(store, hostId, window);
    if (!data.host && data.reports.items.length === 0 && data.tracked.items.length === 0) {
      throw new AppError(404, 'host_not_found', `host ${hostId} is not registered and has no report in the last ${range}`);
    }
    return page(c, <HostPage hostId={hostId} data={data} window={window} status={status} nowMs={nowMs} signedIn={signedIn} />);
  });

  dash.get('/hosts/:hostId/runs/:runId', async (c) => {
    const hostId = readId(HostId, c.req.param('hostId'), 'host id');
    const runId = readId(RunId, c.req.param('runId'), 'run id');
    const { range } = readFilters(c);
    const report = await loadReport(store, hostId, runId);
    if (!report) throw new AppError(404, 'report_not_found', `host ${hostId} has no report of run ${runId}`);
    return page(c, <ReportPage report={report} range={range} nowMs={now()} signedIn={signedIn} />);
  });

  dash.get('/runs/:runId', async (c) => {
    const runId = readId(RunId, c.req.param('runId'), 'run id');
    const { range } = readFilters(c);
    const reports = await loadRun(store, runId);
    if (reports.length === 0) throw new AppError(404, 'run_not_found', `no host has reported for run ${runId} (yet)`);
    return page(c, <RunPage runId={runId} reports={reports} range={range} nowMs={now()} signedIn={signedIn} />);
  });

  dash.get('*', () => {
    throw new AppError(404, 'not_found', 'There is no such dashboard page.');
  });

  return dash;
}
