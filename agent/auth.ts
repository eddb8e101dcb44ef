/**
 * Signature check for every agent route but /healthz (SPEC §4), and the signature on every answer
 * to a request that passed it.
 *
 * Nothing is read before authentication: the signature covers timestamp, method, path+query and
 * the body's hash as the request's X-Reaper-Content-SHA256 header states it (the empty body's hash
 * when there is no body), so it is verified from the headers alone. A bad or missing one is
 * answered 401 at once, the body unread (lib/serve.ts then drains a bounded amount and closes the
 * connection). Only then is the body read, bounded by the body limit (413 past it), and refused
 * (400 `content_hash_mismatch`) if its hash is not the one signed. The clock offset the reap uses
 * to correct `snapshotAt` (S2) is recorded on the way.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { AppError, badRequest, unauthorized } from '../lib/errors.js';
import {
  ANSWER_SIGNATURE_HEADER,
  CONTENT_HASH_HEADER,
  EMPTY_BODY_SHA256,
  MAX_CLOCK_SKEW_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  sha256Hex,
  signAnswer,
  verifySignature,
} from '../lib/signing.js';

export interface SignedRequestVariables {
  rawBody: string;
  /** The agent's clock minus the request's timestamp, ms. */
  clockOffsetMs: number;
  /** The request's X-Reaper-Signature, set once it verified: the answer is signed over it (signAnswers). */
  requestSignature: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface SignatureOptions {
  /** The largest body read after authentication (413 past it). */
  bodyLimitBytes: number;
}

/** True when the request announces a body (a Content-Length above 0, or any Transfer-Encoding). */
function announcesBody(c: Context): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length.trim() !== '0') || c.req.header('transfer-encoding') !== undefined;
}

function payloadTooLarge(limit: number): AppError {
  return new AppError(413, 'payload_too_large', `body exceeds ${limit} bytes`);
}

/** The body, at most `limit` bytes; past it a 413, the rest left unread (lib/serve.ts drains it). */
async function readBounded(c: Context, limit: number): Promise<Buffer> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > limit) throw payloadTooLarge(limit);
  const stream = c.req.raw.body;
  if (!stream) return Buffer.alloc(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      // Not cancelled: cancelling destroys the request and its socket before the 413 is written.
      if (size > limit) throw payloadTooLarge(limit);
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}

export function requireSignature(hostKey: Buffer, now: () => number, options: SignatureOptions) {
  return createMiddleware<{ Variables: SignedRequestVariables }>(async (c, next) => {
    // Headers only, up to the signature's verdict: not a byte of the body is read before it.
    const timestampHeader = c.req.header(TIMESTAMP_HEADER);
    const signature = c.req.header(SIGNATURE_HEADER);
    const contentHash = c.req.header(CONTENT_HASH_HEADER);
    if (!timestampHeader || !signature) throw unauthorized('unsigned', `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`);
    if (!/^\d{1,12}$/.test(timestampHeader)) throw unauthorized('bad_timestamp', `${TIMESTAMP_HEADER} must be unix seconds`);
    if (contentHash === undefined && announcesBody(c)) {
      throw unauthorized('missing_content_hash', `a request with a body carries ${CONTENT_HASH_HEADER} (the body's sha256, hex), covered by the signature`);
    }
    // A duplicated header arrives joined with ", " and is refused here too.
    if (contentHash !== undefined && !SHA256_HEX.test(contentHash)) throw unauthorized('bad_content_hash', `${CONTENT_HASH_HEADER} must be 64 lowercase hex digits`);
    const timestamp = Number(timestampHeader);
    const offsetMs = now() - timestamp * 1000;
    if (Math.abs(offsetMs) > MAX_CLOCK_SKEW_SECONDS * 1000) {
      throw unauthorized('stale_timestamp', `request timestamp is more than ${MAX_CLOCK_SKEW_SECONDS}s away from the agent's clock`);
    }
    const url = new URL(c.req.url);
    const bodyHash = contentHash ?? EMPTY_BODY_SHA256;
    if (!verifySignature(hostKey, { timestamp, method: c.req.method, path: url.pathname + url.search, bodyHash }, signature)) {
      throw unauthorized('bad_signature', 'signature does not match this host key');
    }
    // Authenticated: from here on every answer, refusals included, is signed (signAnswers).
    c.set('requestSignature', signature);
    c.set('clockOffsetMs', offsetMs);
    const body = await readBounded(c, options.bodyLimitBytes);
    if (!timingSafeEqual(Buffer.from(sha256Hex(body)), Buffer.from(bodyHash))) {
      throw badRequest('content_hash_mismatch', `the body's sha256 is not the ${CONTENT_HASH_HEADER} the request was signed with; nothing was done`);
    }
    c.set('rawBody', body.toString('utf8'));
    await next();
  });
}

/**
 * Signs the final answer (status and body, whatever produced it: the handler, a refusal thrown
 * after the signature verified, the error handler) of every request whose signature verified.
 * Mounted before every route, so it sees the answer last; answers to requests that were not
 * verified (/healthz, 401s, unknown routes) are left unsigned.
 */
export function signAnswers(hostKey: Buffer) {
  return createMiddleware<{ Variables: SignedRequestVariables }>(async (c, next) => {
    await next();
    // Unset (undefined) unless requireSignature verified this request.
    const requestSignature = c.get('requestSignature') as string | undefined;
    if (requestSignature === undefined) return;
    const answer = c.res;
    const body = new Uint8Array(await answer.arrayBuffer());
    const headers = new Headers(answer.headers);
    headers.set(ANSWER_SIGNATURE_HEADER, signAnswer(hostKey, requestSignature, answer.status, body));
    c.res = new Response(body, { status: answer.status, headers });
  });
}
