/** `clawbox-reaper local` (what `npm start` runs): starts the local stack and stops it cleanly on Ctrl-C / SIGTERM. */
import { resolve } from 'node:path';
import { ConfigError, DEFAULT_DOCKER_HOST } from '../agent/config.js';
import { DockerUnreachableError } from '../agent/errors.js';
import { startLocalStack, type LocalStackOptions } from './local-stack.js';
import { DEFAULT_API_URL, DEFAULT_DATA_DIR } from './context.js';
import { UsageError } from './output.js';

const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** A multi-line problem list ("invalid … configuration:\n  - A: …\n  - B: …") as one line. */
const oneLine = (message: string) =>
  message
    .replace(/:?\n\s*-\s*/g, (m) => (m.startsWith(':') ? ': ' : '; '))
    .replace(/\s*\n\s*/g, ' ')
    .replace(/(\w+_SECONDS): must be a whole number(?! of)/g, '$1: must be a whole number of seconds (e.g. 120, not 2m)');

/** Why the stack could not start, as one line for the user (exit 2), or undefined for a bug. */
export function startFailure(error: unknown, options: Pick<LocalStackOptions, 'apiListen' | 'agentListen'>): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof DockerUnreachableError) return error.message;
  if (error instanceof ConfigError || error.name === 'ReaperConfigError' || error.name === 'MasterKeyError' || error.name === 'InvalidKeyError') return oneLine(error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    const port = (error as { port?: number }).port;
    const address = (error as { address?: string }).address;
    const where = address !== undefined && port !== undefined ? `${address}:${port}` : 'an address';
    const flag = port !== undefined && options.agentListen.endsWith(`:${port}`) ? '--agent-listen' : port !== undefined && options.apiListen.endsWith(`:${port}`) ? '--api-listen' : '--api-listen / --agent-listen';
    const why = code === 'EADDRINUSE' ? 'is already in use (another clawbox-reaper local, or another program?)' : code === 'EACCES' ? 'needs privileges this user does not have' : 'is not an address of this machine';
    return `cannot listen on ${where}: it ${why}; choose another with ${flag} HOST:PORT`;
  }
  if (/is in use: is another|--host-id|listen address|REAPER_MASTER_KEY|socket path|must be a directory|not a socket|belongs to uid/.test(error.message)) return oneLine(error.message);
  return undefined;
}

export async function runLocal(options: LocalStackOptions): Promise<void> {
  let stack;
  try {
    stack = await startLocalStack(options);
  } catch (error) {
    const message = startFailure(error, options);
    if (message !== undefined) throw new UsageError(message);
    throw error;
  }
  const s = stack.settings;
  // The commands suggested below, with the flags this stack was started with where they differ from the defaults.
  const where = [
    ...(stack.apiUrl === DEFAULT_API_URL ? [] : [`--api ${stack.apiUrl}`]),
    ...(resolve(options.dataDir) === resolve(DEFAULT_DATA_DIR) ? [] : [`--data-dir ${shellWord(options.dataDir)}`]),
  ].join(' ');
  const cmd = (args: string) => `  clawbox-reaper ${args}${where ? ` ${where}` : ''}`;
  const lines = [
    '',
    'clawbox-reaper is running on this machine:',
    `  API          ${stack.apiUrl}`,
    `  dashboard    ${stack.apiUrl}/dashboard   (sign in with the API token)`,
    `  agent        ${stack.agentUrl} (host "${stack.hostId}", Docker at ${process.env.DOCKER_HOST || DEFAULT_DOCKER_HOST})`,
    `  data         ${stack.dataDir}`,
    `  store        ${stack.storeSocket}   (a unix socket only this user can open; no TCP port)`,
    `  schedule     a reap every ${Math.round(options.intervalMs / 1000)}s`,
    `  settings     grace ${s.graceSeconds}s, stop timeout ${s.stopTimeoutSeconds}s, max reap ${s.maxReap}/host, max reap percent ${s.maxReapPercent}% (above ${s.maxReapPercentMin} orphans), fleet max reap ${s.fleetMaxReap}, quarantine ${s.quarantineSeconds ? `${s.quarantineSeconds}s` : 'off'}, lease skew ${s.leaseSkewSeconds}s`,
    stack.tokenCreated
      ? `  API token    ${stack.token}   (shown once; kept in ${stack.dataDir}/api-token, mode 0600)`
      : `  API token    in ${stack.dataDir}/api-token`,
    '',
    where
      ? 'From another terminal in this directory (the CLI finds the token in the data dir given; before `npm link`, put `npx` in front):'
      : 'From another terminal in this directory (the CLI finds the token in the data dir; before `npm link`, put `npx` in front):',
    cmd('hosts'),
    cmd('reap --dry-run'),
    cmd('reports'),
    `  curl -H "Authorization: Bearer $(cat ${stack.dataDir}/api-token)" ${stack.apiUrl}/v1/reports`,
    'Ctrl-C stops it after the reap in flight has written its reports.',
    '',
  ];
  process.stderr.write(lines.join('\n'));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping clawbox-reaper local (a reap in flight first writes its reports)\n`);
    void stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
