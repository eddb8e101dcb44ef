/**
 * The container manager's side of the registry contract (docs/REGISTRY.md):
 * **track before create, untrack after remove.** A container that exists while its item does not
 * is an orphan to the reaper, so the item must be written first and deleted last.
 */
import type { TrackedStore } from './tracked.js';
import type { TrackedItem } from './schemas.js';

export interface TrackOptions {
  owner?: string;
  /** Seconds until the item stops protecting the container unless re-tracked (renewed). */
  leaseSeconds?: number;
}

export interface RegistryClient {
  /** Step 1, before asking Docker to create the container: protects any container with this label value. */
  trackBeforeCreate(containerId: string, options?: TrackOptions): Promise<TrackedItem>;
  /**
   * Step 2, optional, once Docker returned the id: narrows the protection to that one container,
   * so a duplicate created by a lost-and-retried create call becomes reapable.
   */
  recordDockerId(containerId: string, dockerId: string, options?: TrackOptions): Promise<TrackedItem>;
  /** Renews a lease; repeat the dockerId and owner the item should keep (a re-track replaces them). */
  renew(containerId: string, options: TrackOptions & { dockerId?: string }): Promise<TrackedItem>;
  /** Last step, after Docker confirmed the container is gone (removed, or 404). */
  untrackAfterRemove(containerId: string): Promise<boolean>;
  /**
   * The whole create protocol: track, create, record the dockerId. If `create` throws, the item is
   * kept: the container may exist even though the call failed (a lost answer); a lease lets it
   * lapse if nobody comes back for it.
   */
  createTracked<T extends { dockerId: string }>(containerId: string, create: () => Promise<T>, options?: TrackOptions): Promise<T>;
}

export function createRegistryClient(deps: { tracked: TrackedStore; hostId: string }): RegistryClient {
  const { tracked, hostId } = deps;
  const client: RegistryClient = {
    trackBeforeCreate: (containerId, options = {}) => tracked.track(hostId, containerId, { ...options }),
    recordDockerId: (containerId, dockerId, options = {}) => tracked.track(hostId, containerId, { ...options, dockerId }),
    renew: (containerId, options) => tracked.track(hostId, containerId, { ...options }),
    untrackAfterRemove: (containerId) => tracked.untrack(hostId, containerId),
    async createTracked(containerId, create, options = {}) {
      await client.trackBeforeCreate(containerId, options);
      const created = await create();
      await client.recordDockerId(containerId, created.dockerId, options);
      return created;
    },
  };
  return client;
}
