/**
 * The API as the local stack serves it (`clawbox-reaper local`): a bearer token on every /v1
 * route (and the same token to sign in to the /dashboard pages), and runs started in process instead of by an async Lambda invocation. A run is not
 * awaited by the request that starts it (POST /v1/reaps answers 202 at once, as on AWS); its
 * promise is kept so a graceful shutdown can wait for the reports to be written (`inFlight()`).
 */
import type { Hono } from 'hono';
import type { Logger } from '../../lib/logger.js';
import { RestoreOutcome, type RestoreEvent } from '../reaper/restore.js';
import type { Reaper } from '../reaper/run.js';
import type { Store } from '../store/index.js';
import { createApiApp, type StartRun, type StartRunRequest } from './app.js';
import { bearerTokenAuth } from './auth.js';

/** A local run gets a Lambda-like deadline so it always ends and writes every report (S8). */
export const DEFAULT_LOCAL_RUN_BUDGET_MS = 15 * 60_000;

interface LocalApiCommon {
  store: Pick<Store, 'hosts' | 'tracked' | 'reports' | 'quarantine'>;
  /** REAPER_API_TOKEN; checked in constant time, never logged (S9). */
  token: string;
  logger: Logger;
  now?: () => number;
  bodyLimitBytes?: number;
}

export type LocalApiOptions = LocalApiCommon &
  (
    | {
        /**
         * Runs the reaper function's handler on the on-demand event `{ runId, hosts?, dryRun?,
         * force? }` (the very payload the Lambda invocation carries) and resolves when the run ends.
         */
        invoke: (event: StartRunRequest) => Promise<unknown>;
        /** The reaper handler on a restore event (S11), awaited: its answer is the outcome. */
        invokeRestore?: (event: RestoreEvent) => Promise<unknown>;
      }
    | {
        /** Or a reaper, run directly with trigger `api` and a deadline `runBudgetMs` away. */
        reaper: Reaper;
        runBudgetMs?: number;
      }
  );

export interface LocalApi {
  app: Hono;
  /** Resolves once every run started so far (and any started while waiting) has ended. Never rejects. */
  inFlight(): Promise<void>;
}

/** How many ended runs are remembered as ended, for `done` on GET /v1/reaps/:runId. */
const FINISHED_MEMORY = 1000;

export function createLocalApi(options: LocalApiOptions): LocalApi {
  const now = options.now ?? Date.now;
  const running = new Map<string, Promise<void>>();
  const finished = new Set<string>();

  const execute =
    'invoke' in options
      ? (request: StartRunRequest) => options.invoke(request)
      : (request: StartRunRequest) =>
          options.reaper.run({ ...request, trigger: 'api', deadlineAt: now() + (options.runBudgetMs ?? DEFAULT_LOCAL_RUN_BUDGET_MS) });

  const startRun: StartRun = (request) => {
    // Started on the next turn, never inside the request: the run's own failures are logged here
    // (the reaper has written what reports it could), never an unhandled rejection.
    const run = Promise.resolve()
      .then(() => execute(request))
      .then(
        () => undefined,
        (err: unknown) => {
          options.logger.error({ err, runId: request.runId }, 'on-demand reap failed');
        },
      )
      .finally(() => {
        running.delete(request.runId);
        finished.add(request.runId);
        if (finished.size > FINISHED_MEMORY) {
          const oldest = finished.values().next();
          if (!oldest.done) finished.delete(oldest.value);
        }
      });
    running.set(request.runId, run);
    return Promise.resolve();
  };

  const app = createApiApp({
    store: options.store,
    startRun,
    logger: options.logger,
    auth: bearerTokenAuth(options.token),
    // The dashboard signs browsers in with the same token (a form, then an HttpOnly session cookie).
    dashboardToken: options.token,
    now,
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
    ...('invokeRestore' in options && options.invokeRestore
      ? { restore: async (hostId: string, containerId: string) => RestoreOutcome.parse(await options.invokeRestore?.({ restore: { hostId, containerId } })) }
      : {}),
    runFinished: (runId) => (finished.has(runId) ? true : running.has(runId) ? false : undefined),
  });

  return {
    app,
    async inFlight() {
      // Loop: a run may be started while the earlier ones are awaited.
      while (running.size > 0) await Promise.all([...running.values()]);
    },
  };
}
