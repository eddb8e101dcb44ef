/**
 * Waits for signalled containers to exit, with one list call per poll for all of them instead of
 * one long-poll connection per container.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DockerPort } from './docker.js';

interface Waiter {
  deadline: number;
  resolve: (exited: boolean) => void;
}

export class ExitWatcher {
  private readonly waiters = new Map<string, Waiter>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly docker: DockerPort,
    private readonly pollIntervalMs = 100,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves `true` once the container is no longer active, `false` when the deadline passes first. */
  waitForExit(dockerId: string, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiters.set(dockerId, { deadline, resolve });
      this.loop ??= this.run().finally(() => {
        this.loop = undefined;
      });
    });
  }

  private async run(): Promise<void> {
    while (this.waiters.size > 0) {
      const earliest = Math.min(...[...this.waiters.values()].map((w) => w.deadline));
      await sleep(Math.max(0, Math.min(this.pollIntervalMs, earliest - this.now())));
      let active: Set<string> | undefined;
      try {
        active = new Set((await this.docker.listLabelled({ activeOnly: true })).map((c) => c.dockerId));
      } catch {
        // The engine did not answer: keep waiting until the deadlines; the removal reports the failure.
      }
      const now = this.now();
      for (const [dockerId, waiter] of this.waiters) {
        if (active && !active.has(dockerId)) {
          this.waiters.delete(dockerId);
          waiter.resolve(true);
        } else if (now >= waiter.deadline) {
          this.waiters.delete(dockerId);
          waiter.resolve(false);
        }
      }
    }
  }
}
