/**
 * A private rootful Podman service on its own socket (its Docker-compatible API), with the same
 * busybox image as the Docker engines: the setup measured to work on this machine kind
 * (MACHINE-NOTES: vfs storage, cgroupfs, no network namespace, fixed rlimits). `stop()` removes
 * every container it holds, stops the service by PID and deletes its files.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { busyboxImageTar, startEngine, TEST_IMAGE, type Engine } from './engine.js';

export function podmanInstalled(): boolean {
  return existsSync('/usr/bin/podman');
}

const CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
events_logger = "file"
cgroup_manager = "cgroupfs"
`;

function podmanArgs(dir: string): string[] {
  return ['--root', join(dir, 'storage'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc', '--tmpdir', join(dir, 'tmp')];
}

/**
 * Deletes the service's files. Conmon runs `podman container cleanup` after each container's exit,
 * which may still write into the run root for a moment after the service has gone; a container
 * that could not be removed leaves its shm mount. So: detach mounts below, then retry a while.
 */
async function removeDir(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((path) => path.startsWith(`${dir}/`))
    .reverse();
  for (const path of mounts) {
    try {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
    } catch {
      // Already detached.
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

export async function startPodman(): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'crp-'));
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'containers.conf'), CONF);
  const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') };
  const socketPath = join(dir, 'podman.sock');
  const log = openSync(join(dir, 'podman.log'), 'a');
  // --time=0: without it the service exits when idle and removes its socket.
  const child: ChildProcess = spawn('podman', [...podmanArgs(dir), 'system', 'service', '--time=0', `unix://${socketPath}`], { stdio: ['ignore', log, log], env });
  const docker = new Docker({ socketPath });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`podman exited with ${child.exitCode}; see ${join(dir, 'podman.log')}`);
    try {
      await docker.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        throw new Error('podman did not answer within 30s');
      }
      await sleep(50);
    }
  }
  try {
    execFileSync('podman', [...podmanArgs(dir), 'import', busyboxImageTar(dir), TEST_IMAGE], { stdio: ['ignore', 'ignore', 'pipe'], env });
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  }

  return {
    dockerHost: `unix://${socketPath}`,
    socketPath,
    docker,
    dir,
    get pid() {
      return child.pid ?? -1;
    },
    kill: () => Promise.reject(new Error('not supported on the Podman helper')),
    restart: () => Promise.reject(new Error('not supported on the Podman helper')),
    async stop() {
      // Podman refuses to remove a container while others share its namespaces: a few rounds, dependents go first.
      for (let round = 0; round < 5; round++) {
        try {
          const all = await docker.listContainers({ all: true });
          if (all.length === 0) break;
          await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
        } catch {
          break; // The service may be down already.
        }
      }
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
      }
      await removeDir(dir);
    },
  };
}

export type EngineKind = 'docker' | 'podman';

/** The two engine kinds the suites run on (SPEC §9), each with how to start a private one. */
export const TEST_ENGINES: readonly (readonly [EngineKind, () => Promise<Engine>])[] = [
  ['docker', startEngine],
  [
    'podman',
    () => {
      if (!podmanInstalled()) throw new Error('podman is not installed: apt-get install -y podman (.ci/run does)');
      return startPodman();
    },
  ],
];
