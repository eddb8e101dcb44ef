/**
 * Carries out a plan's removals on the engine. The stop timeout is paid once per reap, not once
 * per container: every running orphan is signalled up front, each gets at most the timeout to
 * exit, and the ones that exit early or were never running are removed without waiting. Engine
 * calls go through one bounded queue; waiting for exits holds no slot in it.
 */
import pLimit from 'p-limit';
import type { DockerPort } from './docker.js';
import { ExitWatcher } from './exit-watcher.js';
import type { LabelledContainer } from './orphans.js';

export interface RemovalResult {
  container: LabelledContainer;
  action: 'removed' | 'vanished' | 'failed';
  /** It was running and is not any more (exited on its stop signal, or killed by the removal). */
  stopped: boolean;
  error?: string;
}

export interface RemovalOptions {
  stopTimeoutMs: number;
  /** Engine calls in flight at once. */
  concurrency: number;
  pollIntervalMs?: number;
  now?: () => number;
}

const ACTIVE = new Set(['running', 'paused', 'restarting']);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function removeOrphans(docker: DockerPort, orphans: readonly LabelledContainer[], options: RemovalOptions): Promise<RemovalResult[]> {
  const now = options.now ?? Date.now;
  const limit = pLimit(Math.max(1, options.concurrency));
  const watcher = new ExitWatcher(docker, options.pollIntervalMs ?? 100, now);

  const remove = async (container: LabelledContainer, wasActive: boolean): Promise<RemovalResult> => {
    try {
      const outcome = await limit(() => docker.remove(container.dockerId));
      if (outcome === 'gone') return { container, action: 'vanished', stopped: false };
      return { container, action: 'removed', stopped: wasActive };
    } catch (error) {
      return { container, action: 'failed', stopped: false, error: message(error) };
    }
  };

  const stopThenRemove = async (container: LabelledContainer): Promise<RemovalResult> => {
    let exitedEarly = false;
    try {
      // One queue slot for inspect + kill, so every signal goes out before idle removals start.
      const outcome = await limit(async () => {
        const signal = await docker.stopSignal(container.dockerId);
        return signal === 'gone' ? 'gone' : docker.kill(container.dockerId, signal);
      });
      if (outcome === 'gone') return { container, action: 'vanished', stopped: false };
      if (outcome === 'signalled') {
        exitedEarly = await watcher.waitForExit(container.dockerId, now() + options.stopTimeoutMs);
      }
    } catch {
      // Signalling failed (e.g. the engine is restarting): the forced removal below still kills
      // it, and reports its own error if that fails too.
    }
    const result = await remove(container, true);
    return exitedEarly && result.action !== 'removed' ? { ...result, stopped: true } : result;
  };

  // Signals are queued before the removals of idle orphans so the stop timeouts start early.
  const active = orphans.filter((c) => ACTIVE.has(c.state));
  const idle = orphans.filter((c) => !ACTIVE.has(c.state));
  const results = await Promise.all([...active.map(stopThenRemove), ...idle.map((c) => remove(c, false))]);
  return results;
}
