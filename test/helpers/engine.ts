/**
 * A private Docker engine per test file (SPEC §8): its own socket, data-root, exec-root and
 * pidfile, no bridge, no iptables; a busybox image imported from Debian's busybox-static. Never
 * the user's own engine. `stop()` removes every container it holds and then the engine, by PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';

export const TEST_IMAGE = 'clawbox-test-busybox:latest';

export interface Engine {
  dockerHost: string;
  socketPath: string;
  docker: Docker;
  dir: string;
  pid: number;
  /** Kills the engine at once (fault injection), leaving its files for a restart. */
  kill(): Promise<void>;
  /** Starts the engine again on the same paths after kill(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function busyboxPath(): string {
  for (const candidate of ['/usr/bin/busybox', '/bin/busybox']) if (existsSync(candidate)) return candidate;
  throw new Error('busybox-static is not installed: apt-get install -y busybox-static');
}

async function waitForPing(docker: Docker, child: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}; see ${logPath}`);
    try {
      await docker.ping();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`dockerd did not answer within 30s; see ${logPath}`);
}

function launch(dir: string): ChildProcess {
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => existsSync(p));
  if (!dockerd) throw new Error('dockerd is not installed: apt-get install -y docker.io');
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  return spawn(
    dockerd,
    [
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'),
      '--host', `unix://${join(dir, 'docker.sock')}`,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
    ],
    { stdio: ['ignore', log, log], detached: false },
  );
}

/** A tar of a root holding busybox-static and links to it (sh, sleep, …): the test image, for `import`. */
export function busyboxImageTar(dir: string): string {
  const root = join(dir, 'image-root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  copyFileSync(busyboxPath(), join(root, 'usr', 'bin', 'busybox'));
  for (const tool of ['sh', 'sleep', 'true', 'trap', 'echo']) symlinkSync('/usr/bin/busybox', join(root, 'bin', tool));
  const tarPath = join(dir, 'image.tar');
  execFileSync('tar', ['-C', root, '-cf', tarPath, '.']);
  return tarPath;
}

async function importImage(socketPath: string, dir: string): Promise<void> {
  execFileSync('docker', ['-H', `unix://${socketPath}`, 'import', busyboxImageTar(dir), TEST_IMAGE], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A crashed engine leaves its data-root bind mount (and overlay mounts) behind; detach them. */
function unmountBelow(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .reverse();
  for (const path of mounts) {
    try {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
    } catch {
      // Already detached with its parent.
    }
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function startEngine(): Promise<Engine> {
  // Short path: a unix socket path must stay under 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'cre-'));
  const socketPath = join(dir, 'docker.sock');
  const docker = new Docker({ socketPath });
  let child = launch(dir);
  try {
    await waitForPing(docker, child, join(dir, 'dockerd.log'));
    await importImage(socketPath, dir);
  } catch (error) {
    // Never leave an engine behind when setup fails half-way.
    child.kill('SIGTERM');
    throw error;
  }

  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await Promise.race([exited, sleep(30_000)]);
  };

  const engine: Engine = {
    dockerHost: `unix://${socketPath}`,
    socketPath,
    docker,
    dir,
    get pid() {
      return child.pid ?? -1;
    },
    async kill() {
      // A crash of the engine: dockerd and its containerd die at once; the containers' shims
      // live on, as on a real host, and the restarted engine reattaches to them.
      const containerdPid = readPid(join(dir, 'exec', 'containerd', 'containerd.pid'));
      await terminate('SIGKILL');
      if (containerdPid) {
        try {
          process.kill(containerdPid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await sleep(200);
    },
    async restart() {
      // A crashed containerd leaves its sockets behind; the new one must bind afresh.
      for (const stale of ['containerd.sock', 'containerd.sock.ttrpc', 'containerd-debug.sock', 'containerd.pid']) {
        rmSync(join(dir, 'exec', 'containerd', stale), { force: true });
      }
      child = launch(dir);
      await waitForPing(docker, child, join(dir, 'dockerd.log'));
    },
    async stop() {
      try {
        if (child.exitCode === null && child.signalCode === null) {
          const all = await docker.listContainers({ all: true });
          // Stopping an engine with running containers takes ~11 s; remove them first.
          await Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
        }
      } catch {
        // The engine may already be down; it is stopped below either way.
      }
      await terminate('SIGTERM');
      // After a kill() the engine's containerd may have outlived it: stop it by its pidfile.
      const pid = readPid(join(dir, 'exec', 'containerd', 'containerd.pid'));
      try {
        if (pid) process.kill(pid, 'SIGTERM');
      } catch {
        // No such process: nothing left running.
      }
      unmountBelow(dir);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  return engine;
}
