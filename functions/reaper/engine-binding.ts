/**
 * Engine binding (S10), pure: which hosts may be reaped through which engine. Two host records on
 * one engine would each see the other's tracked containers as orphans, so:
 * - a pinned host is reaped only while its agent reports the pinned engine (else engine_mismatch);
 * - an unpinned host is pinned on first contact, before any destructive command, unless its
 *   engine is pinned by another host, or another unpinned host claims it in the same run
 *   (engine_claimed: neither is pinned, nothing is touched).
 */
export type BindingRefusal = 'engine_claimed' | 'engine_mismatch';

export type Binding =
  | { kind: 'bound'; engineId: string }
  | { kind: 'pin'; engineId: string }
  | { kind: 'refused'; code: BindingRefusal; engineId: string; message: string };

export interface HostPin {
  hostId: string;
  engineId?: string | undefined;
}

/** A pinned host is bound to its engine, or refused `engine_mismatch` when its agent reports another. */
export function checkPinned(hostId: string, pinned: string, reported: string): Binding {
  if (pinned === reported) return { kind: 'bound', engineId: reported };
  return {
    kind: 'refused',
    code: 'engine_mismatch',
    engineId: reported,
    message: `the agent reports engine ${reported}, but this host is pinned to ${pinned}; nothing was touched. If the engine was replaced on purpose, re-pin: clawbox-reaper hosts repin ${hostId}`,
  };
}

/**
 * @param pins every host record (enabled or not: a disabled host's engine is still its own)
 * @param reported the engine each host of this run reported, by host id
 */
export function bindEngines(pins: readonly HostPin[], reported: ReadonlyMap<string, string>): Map<string, Binding> {
  const pinnedBy = new Map<string, string>();
  for (const p of pins) if (p.engineId !== undefined) pinnedBy.set(p.engineId, p.hostId);
  const pinOf = new Map(pins.map((p) => [p.hostId, p.engineId]));

  const unpinnedClaims = new Map<string, string[]>();
  for (const [hostId, engineId] of reported) {
    if (pinOf.get(hostId) !== undefined) continue;
    unpinnedClaims.set(engineId, [...(unpinnedClaims.get(engineId) ?? []), hostId]);
  }

  const out = new Map<string, Binding>();
  for (const [hostId, engineId] of reported) {
    const pinned = pinOf.get(hostId);
    if (pinned !== undefined) {
      out.set(hostId, checkPinned(hostId, pinned, engineId));
      continue;
    }
    const owner = pinnedBy.get(engineId);
    if (owner !== undefined && owner !== hostId) {
      out.set(hostId, { kind: 'refused', code: 'engine_claimed', engineId, message: `engine ${engineId} is pinned to host ${owner}; two host records on one engine would reap each other's containers, so nothing was touched. Point this host at its own engine, or remove one of the records` });
      continue;
    }
    const rivals = (unpinnedClaims.get(engineId) ?? []).filter((h) => h !== hostId);
    if (rivals.length > 0) {
      out.set(hostId, { kind: 'refused', code: 'engine_claimed', engineId, message: `engine ${engineId} is also claimed in this run by ${rivals.slice(0, 5).join(', ')}; neither host was pinned and nothing was touched. Remove the host records that do not own this engine` });
      continue;
    }
    out.set(hostId, { kind: 'pin', engineId });
  }
  return out;
}
