/**
 * S6: one reap at a time per agent, and a repeated runId never reaps twice. A retry of the run in
 * flight joins it; a retry of a finished run gets the stored report; any other run while one is
 * in flight is refused (409).
 */
import { conflict } from '../lib/errors.js';
import type { ReapReport } from './contract.js';

export class RunRegistry {
  private inFlight: { runId: string; promise: Promise<ReapReport> } | undefined;
  private readonly finished = new Map<string, ReapReport>();

  /** @param capacity finished reports kept for replay (oldest dropped first). */
  constructor(private readonly capacity = 1024) {}

  async run(runId: string, execute: () => Promise<ReapReport>): Promise<{ report: ReapReport; replayed: boolean }> {
    const done = this.finished.get(runId);
    if (done) return { report: done, replayed: true };
    if (this.inFlight) {
      if (this.inFlight.runId === runId) return { report: await this.inFlight.promise, replayed: true };
      throw conflict('reap_in_progress', `another reap (run ${this.inFlight.runId}) is in progress on this agent; retry later`);
    }
    const promise = execute();
    this.inFlight = { runId, promise };
    try {
      const report = await promise;
      this.remember(report);
      return { report, replayed: false };
    } finally {
      this.inFlight = undefined;
    }
  }

  /** This run is in flight or finished here: a command for it is a retry (S6). */
  knows(runId: string): boolean {
    return this.finished.has(runId) || this.inFlight?.runId === runId;
  }

  /** True while a reap is running (graceful shutdown waits for it). */
  get busy(): Promise<unknown> | undefined {
    return this.inFlight?.promise;
  }

  private remember(report: ReapReport): void {
    this.finished.set(report.runId, report);
    if (this.finished.size > this.capacity) {
      const oldest = this.finished.keys().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }
}
