/**
 * Real containers for tests. Every one carries a per-run test label besides the clawbox label,
 * so tests only ever count or clean up what they created.
 */
import Docker from 'dockerode';
import { TEST_IMAGE } from './engine.js';

export const LABEL = 'clawbox.container_id';
export const TEST_RUN_LABEL = 'clawbox-reaper.test-run';

export type Kind = 'running' | 'created' | 'exited' | 'graceful';

export interface MadeContainer {
  id: string;
  clawboxId: string | undefined;
  kind: Kind;
}

const COMMANDS: Record<Kind, string[]> = {
  // busybox sleep as PID 1 ignores SIGTERM: a stop must wait out the whole timeout.
  running: ['sleep', '3600'],
  created: ['sleep', '3600'],
  exited: ['true'],
  // Exits as soon as it is told to.
  graceful: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.05; done'],
};

export interface MakeOptions {
  clawboxId?: string | undefined;
  kind?: Kind;
  runLabel?: string;
  label?: string;
  extraLabels?: Record<string, string>;
}

export async function makeContainer(docker: Docker, options: MakeOptions = {}): Promise<MadeContainer> {
  const kind = options.kind ?? 'running';
  const labels: Record<string, string> = { [TEST_RUN_LABEL]: options.runLabel ?? 'default', ...options.extraLabels };
  if (options.clawboxId !== undefined) labels[options.label ?? LABEL] = options.clawboxId;
  const container = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: COMMANDS[kind],
    Labels: labels,
    HostConfig: { NetworkMode: 'none' },
  });
  if (kind !== 'created') await container.start();
  if (kind === 'exited') await container.wait();
  return { id: container.id, clawboxId: options.clawboxId, kind };
}

export async function makeContainers(docker: Docker, specs: MakeOptions[], concurrency = 4): Promise<MadeContainer[]> {
  const results: MadeContainer[] = new Array(specs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, specs.length) }, async () => {
      while (next < specs.length) {
        const index = next++;
        results[index] = await makeContainer(docker, specs[index]);
      }
    }),
  );
  return results;
}

/** Docker ids (full) of every container on the engine, running or not. */
export async function existingIds(docker: Docker): Promise<Set<string>> {
  return new Set((await docker.listContainers({ all: true })).map((c) => c.Id));
}

export async function stateOf(docker: Docker, id: string): Promise<string | undefined> {
  try {
    return (await docker.getContainer(id).inspect()).State.Status;
  } catch {
    return undefined;
  }
}

export async function removeAll(docker: Docker): Promise<void> {
  const all = await docker.listContainers({ all: true });
  await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
}
