/**
 * The run's fleet budget (S4): at most `total` containers removed over all hosts, exactly, while
 * hosts run in parallel. A host takes what is free up to its cap before its command (`take`, no
 * waiting: most hosts remove nothing and give it all back) and the agent removes no more than it
 * was granted (`fleetBudget`); with its report the unused part comes back. A host whose grant was
 * too small is capped by the agent, touching nothing, and says how many it needs; it then waits
 * (`reserve`) for others to give back rather than take less: only when nobody holds a grant any
 * more is it granted less — then the budget really is spent.
 */
export class FleetBudget {
  #free: number;
  #holders = 0;
  #waiters = new Set<() => void>();

  constructor(readonly total: number) {
    this.#free = total;
  }

  /**
   * Grants up to `want` at once, whatever others hold: most hosts remove nothing, and one that
   * needs more than it got is capped by the agent and asks again with `reserve`.
   */
  take(want: number): number {
    const granted = Math.max(0, Math.min(want, this.#free));
    this.#free -= granted;
    this.#holders++;
    return granted;
  }

  /** Grants up to `want`; waits while others hold reservations that could cover it. */
  async reserve(want: number, signal?: AbortSignal): Promise<number> {
    for (;;) {
      // At the deadline the host takes what is free rather than wait: its command will not be sent anyway.
      if (this.#free >= want || this.#holders === 0 || signal?.aborted) {
        const granted = Math.max(0, Math.min(want, this.#free));
        this.#free -= granted;
        this.#holders++;
        return granted;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /**
   * Gives back what a host did not use. `used` is what it may have removed (removed + failed);
   * an unknown outcome (timeout, lost answer) must pass `granted`: the agent may have used all of it.
   */
  settle(granted: number, used: number): void {
    this.#free += granted - Math.min(Math.max(0, used), granted);
    this.#holders--;
    for (const wake of [...this.#waiters]) wake();
  }

  get free(): number {
    return this.#free;
  }
}
