/**
 * Restore (S11): a quarantined container is tracked again by the API, then unpaused at once
 * through its agent's signed restore route. Runs where the master key is (the reaper function on
 * AWS, invoked synchronously by the API; in process locally). The agent unpauses only paused
 * containers that carry this label value and whose Docker id is in the quarantine records.
 */
import { z } from 'zod';
import type { AgentClientOptions, AgentClient } from '../../lib/agent-client.js';
import { clientsOver, defaultAgentTransport } from '../../lib/agent-transport.js';
import { ClawboxId, HostId } from '../../lib/ids.js';
import type { Logger } from '../../lib/logger.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import type { Store } from '../store/index.js';
import { checkAgentUrl } from './agent-url.js';
import type { MasterKeyProvider } from './master-key.js';
import { describe } from './outcome.js';

/** The reaper function's restore event (sent by the API with a synchronous invoke). */
export const RestoreEvent = z.strictObject({ restore: z.strictObject({ hostId: HostId, containerId: ClawboxId }) });
export type RestoreEvent = z.infer<typeof RestoreEvent>;

export const RestoreOutcome = z.strictObject({
  /** restored: the agent unpaused (or found not paused) every recorded container; pending: the next run restores them. */
  status: z.enum(['restored', 'pending', 'not-quarantined']),
  containers: z.array(z.strictObject({ dockerId: z.string(), outcome: z.string(), error: z.string().optional() })),
  error: z.string().optional(),
});
export type RestoreOutcome = z.infer<typeof RestoreOutcome>;

export interface RestorerDeps {
  store: Pick<Store, 'hosts' | 'quarantine'>;
  masterKey: MasterKeyProvider;
  logger: Logger;
  agentClient?: (options: AgentClientOptions) => AgentClient;
  timeoutMs?: number;
  now?: () => number;
}

export function createRestorer(deps: RestorerDeps) {
  const makeClient = deps.agentClient ?? clientsOver(defaultAgentTransport());
  return async function restore(hostId: string, containerId: string): Promise<RestoreOutcome> {
    const entries = await deps.store.quarantine.forContainer(hostId, containerId);
    if (entries.length === 0) return { status: 'not-quarantined', containers: [] };
    const host = await deps.store.hosts.get(hostId);
    // The tracked item written by the API already protects the container; the next run of this
    // host restores it (tracked + quarantine record = unpause) if it cannot be done now.
    if (!host) return { status: 'pending', containers: [], error: `host ${hostId} is not registered` };
    // SPEC §4: the URL rules hold for every call, a restore's too.
    const refused = checkAgentUrl(host);
    if (refused !== undefined) return { status: 'pending', containers: [], error: `${refused}; fix the host's registration, then the next run of this host restores it` };
    try {
      const key = await deps.masterKey();
      const client = makeClient({ baseUrl: host.agentUrl, hostKey: decodeKey(deriveHostKey(key, hostId)), ...(deps.now ? { now: deps.now } : {}) });
      const result = await client.restore(
        { hostId, clawboxId: containerId, dockerIds: entries.map((e) => e.dockerId), ...(host.engineId === undefined ? {} : { engineId: host.engineId }) },
        AbortSignal.timeout(deps.timeoutMs ?? 10_000),
      );
      const done = result.containers.filter((c) => c.outcome !== 'not-paused' || c.error === undefined).map((c) => c.dockerId);
      await deps.store.quarantine.apply(hostId, { put: [], remove: done });
      const failed = result.containers.filter((c) => c.error !== undefined);
      deps.logger.info({ hostId, containerId, containers: result.containers }, 'restored from quarantine');
      return {
        status: failed.length ? 'pending' : 'restored',
        containers: result.containers,
        ...(failed.length ? { error: 'some containers could not be unpaused now; the next run retries' } : {}),
      };
    } catch (error) {
      deps.logger.warn({ hostId, containerId, err: error }, 'restore could not reach the agent; the next run restores it');
      return { status: 'pending', containers: [], error: `the agent could not be reached now (${describe(error)}); the next run of this host restores it` };
    }
  };
}

export type Restorer = ReturnType<typeof createRestorer>;
