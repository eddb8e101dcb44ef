/**
 * Request signing between the control plane and the agents (SPEC §4).
 *
 * signature = HMAC-SHA256(hostKey, timestamp + "\n" + METHOD + "\n" + path + "\n" + sha256hex(body))
 * hostKey   = HMAC-SHA256(masterKey, "clawbox-reaper/agent/" + hostId), written as hex.
 *
 * A request with a body also carries X-Reaper-Content-SHA256 (the body's sha256, hex), and the
 * signature covers that header's value as the body hash: the agent verifies the signature from
 * the headers alone, answers a bad one before reading a byte of the body, and only then reads the
 * body and checks it against the header (agent/auth.ts).
 *
 * Answers are signed too: X-Reaper-Answer-Signature: v1=<hex> with
 * answer signature = HMAC-SHA256(hostKey, requestSignatureHex + "\n" + status + "\n" + sha256hex(answer body)),
 * so nobody on the path can alter or forge a host's answer, nor replay one to another request.
 *
 * The control plane holds only the master key; each agent holds only its own host key, so a
 * compromised host cannot sign commands for any other host.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-reaper-timestamp';
export const SIGNATURE_HEADER = 'x-reaper-signature';
/** sha256 of the request body, hex; sent with every request that has a body (SPEC §4). */
export const CONTENT_HASH_HEADER = 'x-reaper-content-sha256';
/** On every answer to a request whose signature verified (SPEC §4). */
export const ANSWER_SIGNATURE_HEADER = 'x-reaper-answer-signature';
/** Commands whose timestamp is further than this from the agent's clock are refused. */
export const MAX_CLOCK_SKEW_SECONDS = 300;
const MIN_KEY_BYTES = 32;
const HEX = /^(?:[0-9a-fA-F]{2})+$/;

export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}

/** Decodes a hex key, refusing anything shorter than 32 bytes (the key's own text never appears in the error). */
export function decodeKey(hex: string, what = 'key'): Buffer {
  const trimmed = hex.trim();
  if (!HEX.test(trimmed)) throw new InvalidKeyError(`${what} must be hex (an even number of 0-9a-f digits)`);
  const bytes = Buffer.from(trimmed, 'hex');
  if (bytes.length < MIN_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must be at least ${MIN_KEY_BYTES} bytes (${MIN_KEY_BYTES * 2} hex digits), got ${bytes.length}`);
  }
  return bytes;
}

/** The per-host key an agent holds, derived from the control plane's master key. */
export function deriveHostKey(masterKeyHex: string, hostId: string): string {
  return createHmac('sha256', decodeKey(masterKeyHex, 'master key')).update(`clawbox-reaper/agent/${hostId}`).digest('hex');
}

/** sha256 of some bytes (a string as UTF-8), lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The body hash of a request without a body. */
export const EMPTY_BODY_SHA256 = sha256Hex('');

interface PartsBase {
  /** Unix seconds. */
  timestamp: number;
  method: string;
  /** Path with its query string, exactly as sent. */
  path: string;
}

/**
 * What a request signature covers: the body itself, or (the agent, before it reads the body) the
 * X-Reaper-Content-SHA256 value the request carries. Both give the same signature for the same
 * body, so a signer may pass either.
 */
export type SignedParts = PartsBase & ({ body: string | Uint8Array; bodyHash?: never } | { bodyHash: string; body?: never });

function canonical(parts: SignedParts): string {
  const bodyHash = parts.bodyHash ?? sha256Hex(parts.body ?? '');
  return `${parts.timestamp}\n${parts.method.toUpperCase()}\n${parts.path}\n${bodyHash}`;
}

/** The value of the X-Reaper-Signature header for these parts. */
export function sign(key: Buffer, parts: SignedParts): string {
  return `v1=${createHmac('sha256', key).update(canonical(parts)).digest('hex')}`;
}

/** Headers to send with a signed request: timestamp, signature, and the body's hash when there is a body. */
export function signedHeaders(key: Buffer, parts: Omit<PartsBase, 'timestamp'> & { body: string | Uint8Array }, nowMs = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  const bodyHash = sha256Hex(parts.body);
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: sign(key, { timestamp, method: parts.method, path: parts.path, bodyHash }),
    ...(parts.body.length > 0 ? { [CONTENT_HASH_HEADER]: bodyHash } : {}),
  };
}

/** Constant-time check of a received signature header against the expected one. */
export function verifySignature(key: Buffer, parts: SignedParts, header: string): boolean {
  const expected = Buffer.from(sign(key, parts));
  const received = Buffer.from(header);
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time constant.
  if (received.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(expected, received);
}

/** The hex of a `v1=<hex>` signature header (what an answer signature binds to); undefined for any other shape. */
export function signatureHex(header: string): string | undefined {
  return /^v1=[0-9a-f]{64}$/.test(header) ? header.slice(3) : undefined;
}

/** The value of X-Reaper-Answer-Signature for an answer to the request signed `requestSignature` (its header value or its hex). */
export function signAnswer(key: Buffer, requestSignature: string, status: number, body: string | Uint8Array): string {
  const hex = requestSignature.startsWith('v1=') ? requestSignature.slice(3) : requestSignature;
  return `v1=${createHmac('sha256', key).update(`${hex}\n${status}\n${sha256Hex(body)}`).digest('hex')}`;
}

/** Constant-time check of an answer's X-Reaper-Answer-Signature; a missing header (null/undefined) is false. */
export function verifyAnswerSignature(key: Buffer, requestSignature: string, status: number, body: string | Uint8Array, header: string | null | undefined): boolean {
  const expected = Buffer.from(signAnswer(key, requestSignature, status, body));
  const received = Buffer.from(header ?? '');
  if (received.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(expected, received);
}
