/**
 * Request signing between the control plane and the agents (SPEC §4).
 *
 * signature = HMAC-SHA256(hostKey, timestamp + "\n" + METHOD + "\n" + path + "\n" + sha256hex(body))
 * hostKey   = HMAC-SHA256(masterKey, "clawbox-reaper/agent/" + hostId), written as hex.
 *
 * The control plane holds only the master key; each agent holds only its own host key, so a
 * compromised host cannot sign commands for any other host.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-reaper-timestamp';
export const SIGNATURE_HEADER = 'x-reaper-signature';
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

export interface SignedParts {
  /** Unix seconds. */
  timestamp: number;
  method: string;
  /** Path with its query string, exactly as sent. */
  path: string;
  body: string | Uint8Array;
}

function canonical(parts: SignedParts): string {
  const bodyHash = createHash('sha256').update(parts.body).digest('hex');
  return `${parts.timestamp}\n${parts.method.toUpperCase()}\n${parts.path}\n${bodyHash}`;
}

/** The value of the X-Reaper-Signature header for these parts. */
export function sign(key: Buffer, parts: SignedParts): string {
  return `v1=${createHmac('sha256', key).update(canonical(parts)).digest('hex')}`;
}

/** Headers to send with a signed request. */
export function signedHeaders(key: Buffer, parts: Omit<SignedParts, 'timestamp'>, nowMs = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: sign(key, { ...parts, timestamp }),
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
