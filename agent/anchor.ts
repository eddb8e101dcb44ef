/**
 * Time anchors (S2, S12). The control plane asks the agent for one (GET /v1/identity) before it
 * takes a run's snapshot, and sends it back with the command. The agent judges a container's age
 * against the anchor on its own clock: a container created after the snapshot was created after
 * the anchor too, on whatever clock, so it is younger than `anchor − grace` whatever the agent's
 * clock lag and however late the command was delivered. A signed timestamp alone cannot give
 * this: the offset it shows is delivery delay minus clock lag, and the two cannot be told apart.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** An anchor older than this (on the agent's own clock) is refused: a command must be fresh. */
export const MAX_ANCHOR_AGE_MS = 10 * 60 * 1000;

export class AnchorError extends Error {
  override name = 'AnchorError';
  constructor(
    readonly code: 'bad_anchor' | 'anchor_expired' | 'anchor_in_future',
    message: string,
  ) {
    super(message);
  }
}

function mac(hostKey: Buffer, issuedAtMs: number): string {
  return createHmac('sha256', hostKey).update(`clawbox-reaper/anchor\n${issuedAtMs}`).digest('hex');
}

export function issueAnchor(hostKey: Buffer, nowMs: number): string {
  const issuedAtMs = Math.floor(nowMs);
  return `v1.${issuedAtMs}.${mac(hostKey, issuedAtMs)}`;
}

/** The anchor's instant (agent clock, ms), or an AnchorError. */
export function verifyAnchor(hostKey: Buffer, anchor: string, nowMs: number): number {
  const [version, issued, received] = anchor.split('.');
  if (version !== 'v1' || issued === undefined || received === undefined || !/^\d{1,15}$/.test(issued)) {
    throw new AnchorError('bad_anchor', 'the anchor is not one this agent issued');
  }
  const issuedAtMs = Number(issued);
  const expected = Buffer.from(mac(hostKey, issuedAtMs));
  const got = Buffer.from(received);
  if (got.length !== expected.length || !timingSafeEqual(expected, got)) throw new AnchorError('bad_anchor', 'the anchor is not one this agent issued');
  // A clock stepped back since the anchor was issued would let new containers look older than it.
  if (issuedAtMs > nowMs + 1000) throw new AnchorError('anchor_in_future', "the anchor is later than the agent's clock (the clock was stepped back); ask for a new one");
  if (nowMs - issuedAtMs > MAX_ANCHOR_AGE_MS) throw new AnchorError('anchor_expired', `the anchor is older than ${MAX_ANCHOR_AGE_MS / 1000}s; ask for a new one`);
  return issuedAtMs;
}
