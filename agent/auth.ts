/**
 * Signature check for every agent route but /healthz (SPEC §4). It reads the raw body once,
 * verifies the HMAC over timestamp, method, path+query and body hash in constant time, and
 * records the clock offset the reap uses to correct `snapshotAt` (S2).
 */
import { createMiddleware } from 'hono/factory';
import { unauthorized } from '../lib/errors.js';
import { MAX_CLOCK_SKEW_SECONDS, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../lib/signing.js';

export interface SignedRequestVariables {
  rawBody: string;
  /** The agent's clock minus the request's timestamp, ms. */
  clockOffsetMs: number;
}

export function requireSignature(hostKey: Buffer, now: () => number) {
  return createMiddleware<{ Variables: SignedRequestVariables }>(async (c, next) => {
    const timestampHeader = c.req.header(TIMESTAMP_HEADER);
    const signature = c.req.header(SIGNATURE_HEADER);
    if (!timestampHeader || !signature) throw unauthorized('unsigned', `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`);
    if (!/^\d{1,12}$/.test(timestampHeader)) throw unauthorized('bad_timestamp', `${TIMESTAMP_HEADER} must be unix seconds`);
    const timestamp = Number(timestampHeader);
    const offsetMs = now() - timestamp * 1000;
    if (Math.abs(offsetMs) > MAX_CLOCK_SKEW_SECONDS * 1000) {
      throw unauthorized('stale_timestamp', `request timestamp is more than ${MAX_CLOCK_SKEW_SECONDS}s away from the agent's clock`);
    }
    const url = new URL(c.req.url);
    const body = await c.req.text();
    if (!verifySignature(hostKey, { timestamp, method: c.req.method, path: url.pathname + url.search, body }, signature)) {
      throw unauthorized('bad_signature', 'signature does not match this host key');
    }
    c.set('rawBody', body);
    c.set('clockOffsetMs', offsetMs);
    await next();
  });
}
