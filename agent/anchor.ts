/**
 * Time anchors (S2, S12). The control plane asks the agent for one (GET /v1/identity) before it
 * takes a run's snapshot, and sends it back with the command. The agent judges a container's age
 * against the anchor on its own clock: a container created after the snapshot was created after
 * the anchor too, so it is younger than `anchor − grace` whatever the agent's clock lag and however
 * late the command was delivered. A signed timestamp alone cannot give this: the offset it shows
 * is delivery delay minus clock lag, and the two cannot be told apart.
 *
 * The anchor also carries the agent's monotonic clock, so a wall clock stepped back (NTP, an
 * operator) between issue and use is seen: the anchor is moved back by the step. Monotonic
 * readings mean nothing across processes, so an anchor is good only in the process that issued it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** An anchor older than this (by the agent's monotonic clock) is refused: a command must be fresh. */
export const MAX_ANCHOR_AGE_MS = 10 * 60 * 1000;

/** This process's id: monotonic readings of another process are meaningless here. */
const BOOT_ID = randomBytes(8).toString('hex');

export class AnchorError extends Error {
  override name = 'AnchorError';
  constructor(
    readonly code: 'bad_anchor' | 'anchor_expired' | 'anchor_stale',
    message: string,
  ) {
    super(message);
  }
}

function mac(hostKey: Buffer, wallMs: number, monoMs: number, bootId: string): string {
  return createHmac('sha256', hostKey).update(`clawbox-reaper/anchor\n${wallMs}\n${monoMs}\n${bootId}`).digest('hex');
}

/**
 * @param wallMs the agent's wall clock (Date.now())
 * @param monoMs the agent's monotonic clock (performance.now())
 */
export function issueAnchor(hostKey: Buffer, wallMs: number, monoMs: number): string {
  const wall = Math.floor(wallMs);
  const mono = Math.floor(monoMs);
  return `v1.${wall}.${mono}.${BOOT_ID}.${mac(hostKey, wall, mono, BOOT_ID)}`;
}

/**
 * The anchor's instant on the agent's wall clock as it reads now (ms), or an AnchorError: the
 * issued reading, moved back by any step the wall clock took since (wall elapsed < monotonic elapsed).
 */
export function verifyAnchor(hostKey: Buffer, anchor: string, wallMs: number, monoMs: number): number {
  const parts = anchor.split('.');
  const [version, wallText, monoText, bootId, received] = parts;
  if (parts.length !== 5 || version !== 'v1' || !/^\d{1,15}$/.test(wallText ?? '') || !/^\d{1,15}$/.test(monoText ?? '') || bootId === undefined || received === undefined) {
    throw new AnchorError('bad_anchor', 'the anchor is not one this agent issued');
  }
  const issuedWall = Number(wallText);
  const issuedMono = Number(monoText);
  const expected = Buffer.from(mac(hostKey, issuedWall, issuedMono, bootId));
  const got = Buffer.from(received);
  if (got.length !== expected.length || !timingSafeEqual(expected, got)) throw new AnchorError('bad_anchor', 'the anchor is not one this agent issued');
  if (bootId !== BOOT_ID) throw new AnchorError('anchor_stale', 'the agent restarted since it issued this anchor; ask for a new one');
  const elapsed = monoMs - issuedMono;
  if (elapsed < 0 || elapsed > MAX_ANCHOR_AGE_MS) throw new AnchorError('anchor_expired', `the anchor is older than ${MAX_ANCHOR_AGE_MS / 1000}s; ask for a new one`);
  return Math.min(issuedWall, wallMs - elapsed);
}
