/**
 * Runs this process started, kept in memory so GET /v1/reaps/:runId can tell "started, no report
 * yet" from "unknown", and knows which hosts the run covers. Bounded: the oldest entries go first.
 * Only a hint — another Lambda container, or a restarted local stack, does not have it.
 */
export interface StartedRun {
  hosts: readonly string[];
  startedAt: string;
}

export class RecentRuns {
  readonly #runs = new Map<string, StartedRun>();
  constructor(readonly capacity = 1000) {}

  add(runId: string, run: StartedRun): void {
    this.#runs.delete(runId);
    this.#runs.set(runId, run);
    // A Map iterates in insertion order: the first key is the oldest.
    while (this.#runs.size > this.capacity) {
      const oldest = this.#runs.keys().next();
      if (oldest.done) break;
      this.#runs.delete(oldest.value);
    }
  }

  delete(runId: string): void {
    this.#runs.delete(runId);
  }

  get(runId: string): StartedRun | undefined {
    return this.#runs.get(runId);
  }
}
