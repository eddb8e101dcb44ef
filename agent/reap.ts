/**
 * Carries out a plan's removals on the engine. The stop timeout is paid once per reap, on any
 * engine: every running orphan gets its own stop signal at once (Config.StopSignal, SIGTERM by
 * default), then one wait — the labelled list is polled until each has exited or the timeout has
 * passed — and each is force-removed the moment it is seen exited; what is still running at the
 * deadline is force-removed then (the engine's SIGKILL). Orphans that were never running are
 * removed straight away.
 *
 * Why not the engine's own stop: Podman runs at most 3 x CPUs + 1 stops at once, so stops of many
 * containers run in waves and the timeout is paid once per wave (measured: 30 orphans, 5 s
 * timeout, 25.7 s). A signal is answered at once on both engines, and the wait is ours.
 *
 * Signals are mostly waiting on the engine, so they have their own, wider bound; removals, which
 * are the engine's real work, share the `concurrency` bound.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { DependentsError, type DependentContainer, type DockerPort } from './docker.js';
import type { LabelledContainer } from './orphans.js';

export interface RemovalResult {
  container: LabelledContainer;
  action: 'removed' | 'vanished' | 'failed';
  /** It was running and is not any more. */
  stopped: boolean;
  error?: string;
  /** Why a removal failed when other containers block it (they share its namespaces; Podman). */
  blockedBy?: DependentContainer[];
}

export interface RemovalOptions {
  stopTimeoutSeconds: number;
  /** Removals in flight at once (REAPER_AGENT_CONCURRENCY). */
  concurrency: number;
  /** Signals (inspect, unpause, kill) in flight at once; default 8x concurrency. */
  stopConcurrency?: number;
  /** How often the wait polls the labelled list; default 100 ms (or twice the list's own time, if longer). */
  pollIntervalMs?: number;
}

/** States whose container has processes to stop first (Podman has `stopping`). */
const ACTIVE = new Set(['running', 'paused', 'restarting', 'stopping']);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function removeOrphans(docker: DockerPort, orphans: readonly LabelledContainer[], options: RemovalOptions): Promise<RemovalResult[]> {
  const removals = pLimit(Math.max(1, options.concurrency));
  const signals = pLimit(Math.max(1, options.stopConcurrency ?? options.concurrency * 8));
  const results = new Map<string, Promise<RemovalResult>>();

  const remove = async (container: LabelledContainer): Promise<RemovalResult> => {
    const wasActive = ACTIVE.has(container.state);
    try {
      // Forced, so a container that ignored its signal, or was restarted by its policy, is killed here.
      const outcome = await removals(() => docker.remove(container.dockerId));
      if (outcome === 'gone') return { container, action: 'vanished', stopped: false };
      return { container, action: 'removed', stopped: wasActive };
    } catch (error) {
      // Blocked by containers that share its namespaces: left as it is (killing it could reach them).
      if (error instanceof DependentsError) return { container, action: 'failed', stopped: false, error: message(error), blockedBy: error.dependents };
      // Not removed, but not left running either (as the engine's stop would have left it): killed,
      // so the next run has only the removal left to do.
      const killed = wasActive && (await docker.kill(container.dockerId, 'SIGKILL').catch(() => undefined)) === 'signalled';
      return { container, action: 'failed', stopped: killed, error: message(error) };
    }
  };

  const active: LabelledContainer[] = [];
  for (const container of orphans) {
    if (ACTIVE.has(container.state) && options.stopTimeoutSeconds > 0) active.push(container);
    else results.set(container.dockerId, remove(container));
  }

  // Step 1: every active orphan gets its stop signal, all at once. Each has the whole timeout from
  // its own signal, as with the engine's stop; at its end it is force-removed (the engine's
  // SIGKILL) on a timer of its own, whatever the polls are doing. Measured on Podman: SIGKILLs of
  // our own wait for each exit in turn and are slower than the forced removals.
  const waiting = new Map<string, { container: LabelledContainer; timer: NodeJS.Timeout }>();
  const release = (dockerId: string) => {
    const entry = waiting.get(dockerId);
    if (!entry) return;
    waiting.delete(dockerId);
    clearTimeout(entry.timer);
    results.set(dockerId, remove(entry.container));
  };
  await Promise.all(
    active.map((container) =>
      signals(async () => {
        try {
          if ((await signalStop(docker, container)) === 'gone') {
            results.set(container.dockerId, Promise.resolve({ container, action: 'vanished', stopped: false }));
            return;
          }
        } catch {
          // Not signalled (e.g. the engine is overloaded): the forced removal at its deadline still kills it.
        }
        waiting.set(container.dockerId, { container, timer: setTimeout(() => release(container.dockerId), options.stopTimeoutSeconds * 1000) });
      }),
    ),
  );

  // Step 2: one wait for all of them: the labelled list is polled, and each container is removed
  // as soon as it is seen exited (or gone: the removal answers so, and it is reported vanished).
  let interval = options.pollIntervalMs ?? 100;
  while (waiting.size > 0) {
    await sleep(interval);
    if (waiting.size === 0) break;
    const started = Date.now();
    // A failed poll only delays the removals; the deadlines still hold.
    const listed = await docker.listLabelled().catch(() => undefined);
    // A large inventory lists slowly: poll no more than half the time.
    if (options.pollIntervalMs === undefined) interval = Math.max(100, 2 * (Date.now() - started));
    if (!listed) continue;
    const states = new Map(listed.map((c) => [c.dockerId, c.state]));
    for (const dockerId of [...waiting.keys()]) {
      const state = states.get(dockerId);
      if (state === undefined || !ACTIVE.has(state)) release(dockerId);
    }
  }

  const settled = await Promise.all(orphans.map((c) => results.get(c.dockerId)!));
  return retryUnblocked(settled, remove);
}

/** Its own stop signal to one container, thawed first: a frozen process cannot take a signal (and Podman refuses to stop a paused container). */
async function signalStop(docker: DockerPort, container: LabelledContainer): Promise<'signalled' | 'not-running' | 'gone'> {
  const info = await docker.stopInfo(container.dockerId);
  if (info === 'gone') return 'gone';
  if (info.state === 'paused' && (await docker.unpause(container.dockerId)) === 'gone') return 'gone';
  return docker.kill(container.dockerId, info.signal);
}

/**
 * A removal refused because of dependents that this same reap removed afterwards (labelled
 * orphans sharing its namespaces) is tried once more; one blocked by anything else stays failed,
 * with the blockers named.
 */
async function retryUnblocked(results: RemovalResult[], remove: (c: LabelledContainer) => Promise<RemovalResult>): Promise<RemovalResult[]> {
  const gone = new Set(results.filter((r) => r.action !== 'failed').map((r) => r.container.dockerId));
  return Promise.all(
    results.map((r) => (r.blockedBy?.length && r.blockedBy.every((d) => gone.has(d.dockerId)) ? remove(r.container) : Promise.resolve(r))),
  );
}
