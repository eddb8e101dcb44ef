/**
 * Which DynamoDB failures are worth retrying. Writes here are idempotent (same key, same item),
 * so a retry after an ambiguous failure cannot duplicate anything.
 */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
]);

interface SdkErrorShape {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
}

function shape(error: unknown): SdkErrorShape {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
}

/** Throttling, a 5xx, or no HTTP answer at all (a network error). */
export function isRetryableDynamoError(error: unknown): boolean {
  const e = shape(error);
  if (typeof e.name === 'string' && THROTTLING.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500;
  // No status: the request never got an answer (connection refused/reset, socket timeout).
  return error instanceof Error && error.name !== 'ConditionalCheckFailedException' && e.$metadata === undefined;
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return shape(error).name === 'ConditionalCheckFailedException';
}
