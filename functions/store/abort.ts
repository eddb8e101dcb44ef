/**
 * Abandoning a DynamoDB call when the caller's abort signal fires (the reaper's work deadline).
 * Shared by every read that takes an `abortSignal` (tracked.ts, quarantine.ts).
 */

/**
 * `promise`, or the signal's reason as soon as it fires. The SDK hands the signal to its HTTP
 * handler only: a wait elsewhere (a retry's backoff, credentials, a middleware) would not notice it.
 * The abandoned promise's own outcome is swallowed.
 */
export function abandonOnAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The signal's reason as an Error (what an aborted read throws). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(reason === undefined ? 'aborted' : String(reason));
}
