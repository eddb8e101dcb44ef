/**
 * Carries out a plan's removals on the engine. The stop timeout is paid once per reap, not once
 * per container: every running orphan is stopped at once (Docker's stop: its StopSignal, at most
 * the timeout, then SIGKILL; it returns as soon as the container exits), and each is removed the
 * moment its stop returns. Orphans that were never running are removed straight away.
 *
 * Stops are mostly waiting, so they have their own, wider bound; removals, which are the engine's
 * real work, share the `concurrency` bound.
 */
import pLimit from 'p-limit';
import type { DockerPort } from './docker.js';
import type { LabelledContainer } from './orphans.js';

export interface RemovalResult {
  container: LabelledContainer;
  action: 'removed' | 'vanished' | 'failed';
  /** It was running and is not any more. */
  stopped: boolean;
  error?: string;
}

export interface RemovalOptions {
  stopTimeoutSeconds: number;
  /** Removals in flight at once (REAPER_AGENT_CONCURRENCY). */
  concurrency: number;
  /** Stops in flight at once; default 8x concurrency. */
  stopConcurrency?: number;
}

/** States whose container has processes to stop first (Podman has `stopping`). */
const ACTIVE = new Set(['running', 'paused', 'restarting', 'stopping']);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function removeOrphans(docker: DockerPort, orphans: readonly LabelledContainer[], options: RemovalOptions): Promise<RemovalResult[]> {
  const removals = pLimit(Math.max(1, options.concurrency));
  const stops = pLimit(Math.max(1, options.stopConcurrency ?? options.concurrency * 8));

  const remove = async (container: LabelledContainer, stopped: boolean): Promise<RemovalResult> => {
    try {
      // Forced, so a container that failed to stop, or was restarted by its policy, is killed here.
      const outcome = await removals(() => docker.remove(container.dockerId));
      if (outcome === 'gone') return { container, action: 'vanished', stopped };
      return { container, action: 'removed', stopped: stopped || ACTIVE.has(container.state) };
    } catch (error) {
      return { container, action: 'failed', stopped, error: message(error) };
    }
  };

  const stopThenRemove = async (container: LabelledContainer): Promise<RemovalResult> => {
    try {
      // A frozen process cannot take its stop signal: thaw it first, so it gets its graceful stop
      // (and Podman does not answer a stop of a paused container with an error).
      if (container.state === 'paused') await docker.unpause(container.dockerId).catch(() => undefined);
      const outcome = await stops(() => docker.stop(container.dockerId, options.stopTimeoutSeconds));
      if (outcome === 'gone') return { container, action: 'vanished', stopped: false };
      return remove(container, outcome === 'stopped');
    } catch {
      // The stop failed (e.g. the engine is overloaded): the forced removal still kills the
      // container, and reports its own error if that fails too.
      return remove(container, false);
    }
  };

  return Promise.all(orphans.map((c) => (ACTIVE.has(c.state) ? stopThenRemove(c) : remove(c, false))));
}
