/**
 * The run's fleet budget (S4): at most `total` containers removed over all hosts, exactly, while
 * hosts run in parallel. A host reserves its whole cap before its command and the agent removes
 * no more than it was granted (`fleetBudget`); with its report the unused part comes back.
 *
 * A host waits for others to give back rather than take less than its cap: a smaller grant would
 * cap a host that the budget can in fact afford. Only when nobody holds a reservation any more is
 * a host granted less — then the budget really is spent.
 */
export class FleetBudget {
  #free: number;
  #holders = 0;
  #waiters = new Set<() => void>();

  constructor(readonly total: number) {
    this.#free = total;
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
