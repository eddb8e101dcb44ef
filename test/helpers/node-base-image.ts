/**
 * A stand-in for the `node:22-slim` base image on an engine that cannot pull: this machine's own
 * node binary with the shared libraries it links (ldd), plus busybox-static for the shell tools a
 * Dockerfile's RUN steps use, made with `docker import` under the same tag. The node inside is the
 * host's (Node 20 here), not 22; what the image under test adds on top is the real thing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The shared libraries a binary loads, by the paths its loader looks them up at. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const paths: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const match = line.match(/=>\s+(\/\S+)/) ?? line.match(/^\s+(\/\S+)\s+\(/);
    if (match) paths.push(match[1]!);
  }
  if (paths.length === 0) throw new Error(`ldd found no shared libraries for ${binary}: ${out}`);
  return paths;
}

/** Imports a node + busybox image into the engine at `dockerHost` as `tag` (default node:22-slim). */
export function importNodeBaseImage(dockerHost: string, tag = 'node:22-slim'): void {
  const root = mkdtempSync(join(tmpdir(), 'cre-node-base-'));
  try {
    const node = realpathSync(process.execPath);
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    copyFileSync(node, join(root, 'usr/local/bin/node'));
    chmodSync(join(root, 'usr/local/bin/node'), 0o755);
    for (const library of sharedLibraries(node)) {
      mkdirSync(join(root, dirname(library)), { recursive: true });
      copyFileSync(realpathSync(library), join(root, library));
    }
    const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p));
    if (!busybox) throw new Error('busybox-static is not installed: apt-get install -y busybox-static');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync(busybox, join(root, 'bin/busybox'));
    for (const tool of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      if (tool !== 'busybox') symlinkSync('/bin/busybox', join(root, 'bin', tool));
    }
    mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
    chmodSync(join(root, 'tmp'), 0o1777);
    for (const dir of ['etc', 'proc', 'sys', 'dev', 'run', 'var/lib']) mkdirSync(join(root, dir), { recursive: true });
    const tar = join(root, '..', `${root.split('/').pop()}.tar`);
    try {
      execFileSync('tar', ['-C', root, '-cf', tar, '.']);
      execFileSync(
        'docker',
        ['-H', dockerHost, 'import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'CMD ["node"]', tar, tag],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    } finally {
      rmSync(tar, { force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
