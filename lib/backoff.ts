/**
 * Retries with full-jitter exponential backoff (delay drawn from [0, min(cap, base·2^n)]), so a
 * fleet of callers that failed together does not retry together. A deadline bounds the whole
 * thing: no retry is started that could not finish before it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** Total attempts, the first included. */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Epoch ms; a retry whose delay would end after `deadlineAt - reserveMs` is not made. */
  deadlineAt?: number;
  /** Time an attempt needs at least; no attempt starts with less than this left. */
  reserveMs?: number;
  isRetryable: (error: unknown) => boolean;
  now?: () => number;
  random?: () => number;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export function jitteredDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Runs `fn(attempt)` (1-based) until it succeeds, fails with a non-retryable error, or attempts/time run out; rethrows the last error. */
export async function withBackoff<T>(fn: (attempt: number) => Promise<T>, options: BackoffOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isRetryable(error)) throw error;
      const delay = jitteredDelay(attempt - 1, options.baseMs, options.capMs, random);
      if (options.deadlineAt !== undefined && now() + delay + (options.reserveMs ?? 0) >= options.deadlineAt) throw error;
      options.onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}
